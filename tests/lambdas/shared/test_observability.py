"""lambdas.shared.observability: Powertools configured from the environment, required, and quiet."""
from __future__ import annotations

import io
import json
import warnings
from types import SimpleNamespace

import pytest

from lambdas.shared.observability import Observability
from scones_contracts.env import ConfigurationError
from tests.lambdas.lambda_helpers import parse_emf

CONTEXT = SimpleNamespace(function_name="f", aws_request_id="r", memory_limit_in_mb=128,
                          invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:f")


def test_service_and_namespace_come_from_the_powertools_variables(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "scones-unit")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Scones/Unit")
    observed = Observability()
    assert (observed.service, observed.namespace) == ("scones-unit", "Scones/Unit")


@pytest.mark.parametrize("missing", ["POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"])
def test_a_handler_without_them_fails_naming_the_variable(monkeypatch, missing):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "scones-unit")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Scones/Unit")
    monkeypatch.delenv(missing)
    observed = Observability()
    calls = []
    handler = observed.handler()(lambda event, context: calls.append(event))
    with pytest.raises(ConfigurationError, match=f"environment variable {missing} is not set"):
        handler({"execution_id": "x"}, CONTEXT)
    assert calls == []


def test_the_handler_logs_with_the_execution_id_and_publishes_metrics(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "scones-unit")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Scones/Unit")
    observed = Observability()

    @observed.handler()
    def handler(event, context):
        observed.metrics.add_metric(name="Things", unit="Count", value=2)
        observed.logger.info("did a thing")
        return {"ok": True}

    logs = io.StringIO()
    previous = observed.logger.registered_handler.setStream(logs)
    try:
        assert handler({"execution_id": "exec-9"}, CONTEXT) == {"ok": True}
    finally:
        observed.logger.registered_handler.setStream(previous)
    [log] = [json.loads(line) for line in logs.getvalue().splitlines() if "did a thing" in line]
    assert log["correlation_id"] == "exec-9" and log["service"] == "scones-unit"
    [record] = parse_emf(capsys.readouterr().out)
    assert record["Things"] == [2.0] and record["service"] == "scones-unit"
    assert record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Scones/Unit"


def test_a_path_without_metrics_does_not_warn(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "scones-unit")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Scones/Unit")
    handler = Observability().handler()(lambda event, context: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        handler({"execution_id": "x"}, CONTEXT)
