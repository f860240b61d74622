"""Execution environments of the local runtime: concurrent invocations of one function keep their
own Powertools state (metric sets, logger keys), as separate Lambda execution environments do;
an idle environment is reused. Each isolation test also runs without the isolation and watches
the state leak, so it can fail."""
from __future__ import annotations

import contextlib
import io
import json
import logging
import threading

import pytest
from aws_lambda_powertools import Logger, Metrics

from scones.local.execution_environments import ExecutionEnvironments, per_environment_powertools

WAIT_S = 10


def interleave(environments: ExecutionEnvironments, first, second) -> None:
    """`first` starts its invocation, `second` runs a whole invocation meanwhile, then `first` ends."""
    started, finished = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def run_first():
        try:
            with environments.invocation("fn"):
                first("before")
                started.set()
                assert finished.wait(WAIT_S)
                first("after")
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
            started.set()

    def run_second():
        try:
            assert started.wait(WAIT_S)
            with environments.invocation("fn"):
                second()
        except BaseException as exc:
            errors.append(exc)
        finally:
            finished.set()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    if errors:
        raise errors[0]


def metric_names(blob: dict) -> set[str]:
    return {m["Name"] for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def concurrent_metrics(isolated: bool) -> dict[str, dict]:
    """Two invocations of one function, interleaved; what each one's flush would publish."""
    metrics = Metrics(service="probe", namespace="Scones/Test")  # created at import, before any invocation
    metrics.clear_metrics()
    environments = ExecutionEnvironments()
    published: dict[str, dict] = {}

    def first(phase):
        if phase == "before":
            metrics.add_metric(name="FromFirst", unit="Count", value=1)
        else:
            published["first"] = metrics.serialize_metric_set()
            metrics.clear_metrics()

    def second():
        metrics.add_metric(name="FromSecond", unit="Count", value=1)
        published["second"] = metrics.serialize_metric_set()
        metrics.clear_metrics()

    with per_environment_powertools() if isolated else contextlib.nullcontext():
        try:
            interleave(environments, first, second)
        finally:
            metrics.clear_metrics()
    published["environments"] = dict(environments.created)
    return published


def test_concurrent_invocations_publish_only_their_own_metrics():
    published = concurrent_metrics(isolated=True)
    assert metric_names(published["first"]) == {"FromFirst"}
    assert metric_names(published["second"]) == {"FromSecond"}
    assert published["environments"] == {"fn": 2}  # the busy environment was not shared


def test_without_environments_one_invocation_flushes_the_others_metrics():
    with pytest.raises(Exception, match="at least one metric"):  # the first one's metrics went with the second's flush
        concurrent_metrics(isolated=False)


def concurrent_correlation_ids(isolated: bool) -> list[dict]:
    stream = io.StringIO()
    # A service of its own per call: Powertools configures a service's logging.Logger only once.
    logger = Logger(service=f"probe-logger-{'isolated' if isolated else 'shared'}",
                    logger_handler=logging.StreamHandler(stream))
    environments = ExecutionEnvironments()

    def first(phase):
        if phase == "before":
            logger.clear_state()
            logger.set_correlation_id("execution-first")
        else:
            logger.info("first finishing")

    def second():
        logger.clear_state()
        logger.set_correlation_id("execution-second")
        logger.info("second")

    with per_environment_powertools() if isolated else contextlib.nullcontext():
        interleave(environments, first, second)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_concurrent_invocations_log_their_own_correlation_id():
    lines = {line["message"]: line.get("correlation_id") for line in concurrent_correlation_ids(isolated=True)}
    assert lines == {"second": "execution-second", "first finishing": "execution-first"}
    unisolated = {line["message"]: line.get("correlation_id") for line in concurrent_correlation_ids(isolated=False)}
    assert unisolated["first finishing"] == "execution-second"  # the control: shared keys leak


def test_an_idle_environment_is_reused_and_keeps_its_state():
    metrics = Metrics(service="probe", namespace="Scones/Test")
    environments = ExecutionEnvironments()
    with per_environment_powertools():
        try:
            with environments.invocation("fn") as first:
                metrics.add_metric(name="LeftOver", unit="Count", value=1)  # never flushed
            with environments.invocation("fn") as second:
                assert "LeftOver" in metrics.provider.metric_set
            with environments.invocation("other") as other:
                assert not metrics.provider.metric_set  # another function's environment
        finally:
            for environment in ("fn", "other"):
                with environments.invocation(environment):
                    metrics.clear_metrics()
    assert first == second == ("fn", 0) and other == ("other", 0)
    assert environments.created == {"fn": 1, "other": 1}
    assert not metrics.provider.metric_set  # outside any invocation: the instance's own set, untouched


def test_nested_activation_keeps_the_isolation_until_the_outer_one_ends():
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    with per_environment_powertools():
        with per_environment_powertools():
            pass
        assert "metric_set" in vars(AmazonCloudWatchEMFProvider)  # the inner exit left it in place
        assert metric_names(concurrent_metrics(isolated=True)["second"]) == {"FromSecond"}
    assert "metric_set" not in vars(AmazonCloudWatchEMFProvider)
