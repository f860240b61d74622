"""lambda_hook: moto's Lambda invocations run the real handler module in-process, each in an
execution environment of its function that serves one invocation at a time; concurrent invocations
of a function get environments of their own (as Lambda scales out), an idle one is reused."""
from __future__ import annotations

import io
import json
import sys
import threading
import time
import types
import zipfile

import boto3
import pytest
from moto import mock_aws

from scones.local.execution_environments import CURRENT_ENVIRONMENT
from scones.local.lambda_hook import route_lambda_invocations

MODULE = "scones_test_hook_module"


@pytest.fixture
def handlers(monkeypatch):
    """A handler module whose two functions record when each invocation ran."""
    module = types.ModuleType(MODULE)
    spans: list[tuple[str, float, float, tuple]] = []
    lock = threading.Lock()

    def make(name):
        def handler(event, context):
            started = time.perf_counter()
            time.sleep(0.05)
            with lock:
                spans.append((name, started, time.perf_counter(), CURRENT_ENVIRONMENT.get()))
            return {"function": context.function_name, "echo": event}
        return handler

    module.first, module.second = make("first"), make("second")
    monkeypatch.setitem(sys.modules, MODULE, module)
    return spans


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "runs in-process")
    return buffer.getvalue()


def test_each_environment_runs_one_invocation_at_a_time_and_a_busy_function_scales_out(handlers):
    with mock_aws(config={"lambda": {"use_docker": False}}), route_lambda_invocations() as environments:
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        client = boto3.client("lambda", region_name="us-east-1")
        for name in ("first", "second"):
            client.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler=f"{MODULE}.{name}",
                                   Code={"ZipFile": _zip()})
        answers = []

        def call(name, i):
            payload = client.invoke(FunctionName=name, Payload=json.dumps({"i": i}))["Payload"].read()
            answers.append(json.loads(payload))

        threads = [threading.Thread(target=call, args=(name, i)) for i in range(4) for name in ("first", "second")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        scaled_out = dict(environments.created)
        call("first", 4)  # nothing else in flight: an idle environment serves it
        after_idle_call = dict(environments.created)

    assert sorted((a["function"], a["echo"]["i"]) for a in answers) == sorted(
        [(name, i) for i in range(4) for name in ("first", "second")] + [("first", 4)])
    for name in ("first", "second"):
        spans = [(s, e, env) for n, s, e, env in handlers if n == name]
        assert all(env is not None and env[0] == name for _, _, env in spans), "every invocation ran in its function's environment"
        for environment in {env for _, _, env in spans}:
            own = sorted((s, e) for s, e, env in spans if env == environment)
            assert all(end <= next_start for (_, end), (next_start, _) in zip(own, own[1:])), \
                f"{environment} served two invocations at once"
        assert any(s1 < e2 and s2 < e1 for i, (s1, e1, _) in enumerate(spans) for s2, e2, _ in spans[i + 1:]), \
            f"{name}'s concurrent invocations ran side by side"
        assert 2 <= scaled_out[name] <= 4  # one environment per invocation in flight at most
    assert after_idle_call == scaled_out
    first = [(s, e) for n, s, e, _ in handlers if n == "first"]
    second = [(s, e) for n, s, e, _ in handlers if n == "second"]
    assert any(s1 < e2 and s2 < e1 for s1, e1 in first for s2, e2 in second), "different functions ran side by side"
