"""The one hook between moto and our code: moto's Lambda invocations run the REAL handlers.

moto (without Docker) would echo a function's input. `route_lambda_invocations()` patches
`LambdaSimpleBackend.invoke` so that an invocation of a function created from the synthesized
template imports the module named by its `Handler` (e.g. `lambdas.serialize.handler.handler` ->
`lambdas.serialize.handler`, the same module path as in the function's asset) and calls it
in-process with a Lambda-like context. An exception
becomes a Lambda function error (`x-amz-function-error: Unhandled`, body
`{"errorType": <class name>, "errorMessage": ...}`), exactly what Step Functions sees in AWS,
so Retry/Catch on `errorType` behave the same.

Each invocation runs in an execution environment of its function (`execution_environments`):
an idle one is reused, a function whose environments are all busy gets a new one, as Lambda
scales out. An environment serves one invocation at a time and has its own Powertools state
(metric sets, logger keys), as in Lambda, so concurrent invocations (the images in flight, a
Distributed Map's items) neither flush each other's metrics ("Must contain at least one metric")
nor log each other's keys, and invocations of one function still run side by side (a classify
call waiting for the endpoint holds up no other).

Environment: the functions' variables from the template are applied to this process once
(`apply_function_environments`); they must not conflict. The one per-function variable, the
Powertools service name, is applied while the function's module is first imported (Powertools reads
it then), so each function logs and publishes metrics under its own service as in AWS.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import threading
import traceback
import uuid
from typing import Any, Callable, Iterator
from unittest import mock

from moto.awslambda_simple.models import LambdaSimpleBackend

from .execution_environments import ExecutionEnvironments, per_environment_powertools

SERVICE_VARIABLE = "POWERTOOLS_SERVICE_NAME"
PER_FUNCTION_VARIABLES = (SERVICE_VARIABLE,)
_import_lock = threading.Lock()
_running = threading.local()


def current_function() -> str | None:
    """The function whose handler runs on this thread right now (None outside a handler).

    Lets an observer attribute what a handler does (its AWS calls, its log lines) to the function,
    as CloudWatch does per function in AWS; the cost measurement (`scones.cost.measure`) uses it.
    """
    return getattr(_running, "function_name", None)


class LocalLambdaContext:
    """The attributes Powertools and our handlers read from a Lambda context."""

    def __init__(self, function_name: str, function_arn: str, memory_mb: int, timeout_s: int = 60) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._timeout_s = timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_s * 1000


def resolve_handler(handler: str, service_name: str | None = None) -> Callable[[Any, Any], Any]:
    """`lambdas.serialize.handler.handler` -> that function; a first import runs under `service_name`."""
    module_name, _, attribute = handler.rpartition(".")
    with _import_lock:
        if module_name in sys.modules or not service_name:
            module = importlib.import_module(module_name)
        else:
            previous = os.environ.get(SERVICE_VARIABLE)
            os.environ[SERVICE_VARIABLE] = service_name
            try:
                module = importlib.import_module(module_name)
            finally:
                if previous is None:
                    os.environ.pop(SERVICE_VARIABLE, None)
                else:
                    os.environ[SERVICE_VARIABLE] = previous
    return getattr(module, attribute)


def apply_function_environments(environments: dict[str, dict[str, str]]) -> None:
    """Set the union of the functions' environment variables; refuse silent conflicts."""
    merged: dict[str, str] = {}
    for function, variables in environments.items():
        for name, value in variables.items():
            if name in PER_FUNCTION_VARIABLES:
                continue
            if name in merged and merged[name] != value:
                raise ValueError(f"functions disagree on environment variable {name} "
                                 f"({merged[name]!r} vs {value!r} in {function}); the in-process hook "
                                 "cannot run them side by side")
            merged[name] = value
    os.environ.update(merged)


def _error_payload(exc: BaseException) -> bytes:
    return json.dumps({
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:],
    }).encode()


@contextlib.contextmanager
def route_lambda_invocations(on_invoke: Callable[[str, float], None] | None = None) -> Iterator[ExecutionEnvironments]:
    """While active, moto Lambda invocations call the real handlers, each in an execution environment
    of its function (yielded: how many each function needed). `on_invoke(name, seconds)` observes."""
    import time

    environments = ExecutionEnvironments()

    def invoke(self: LambdaSimpleBackend, function_name: str, qualifier: str | None, body: Any,
               headers: Any, response_headers: Any) -> bytes:
        fn = self.get_function(function_name, qualifier)
        handler = resolve_handler(fn.handler, (fn.environment_vars or {}).get(SERVICE_VARIABLE))
        event = json.loads(body) if body else {}
        context = LocalLambdaContext(fn.function_name, fn.function_arn, int(fn.memory_size), int(fn.timeout or 60))
        started = time.perf_counter()
        _running.function_name = fn.function_name
        try:
            with environments.invocation(fn.function_name):
                result = handler(event, context)
            payload = json.dumps(result).encode()
        except Exception as exc:  # the Lambda runtime reports any exception as a function error
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = _error_payload(exc)
        finally:
            _running.function_name = None
            if on_invoke:
                on_invoke(fn.function_name, time.perf_counter() - started)
        response_headers["Content-Length"] = str(len(payload))
        return payload

    with mock.patch.object(LambdaSimpleBackend, "invoke", invoke), per_environment_powertools():
        yield environments
