"""Powertools for the workflow functions, configured only by the environment the stack sets.

Powertools reads POWERTOOLS_SERVICE_NAME (the `service` of logs and metrics) and
POWERTOOLS_METRICS_NAMESPACE itself; both are required, and an invocation without them fails with
a ConfigurationError naming the variable. POWERTOOLS_LOG_LEVEL and POWERTOOLS_TRACE_DISABLED
(tests and local runs) are honoured as Powertools documents them.

`Observability.handler()` is the one decorator of a workflow handler: structured logs with the
execution id (the payload's `execution_id`) as correlation id, an X-Ray segment, EMF metrics
flushed at the end, and no "no metrics to publish" warning on the paths that publish none (a
rejected payload), which would otherwise fail a run where warnings are errors.
"""
from __future__ import annotations

import functools
import warnings
from typing import Any, Callable

from aws_lambda_powertools import Logger, Metrics, Tracer

from scones_contracts.env import ConfigurationError

Handler = Callable[[Any, Any], Any]


class Observability:
    def __init__(self) -> None:
        self.logger = Logger()
        self.metrics = Metrics()
        self.tracer = Tracer()

    @property
    def service(self) -> str | None:
        return self.metrics.service

    @property
    def namespace(self) -> str | None:
        return self.metrics.namespace

    def require_configuration(self) -> None:
        for variable, value in (("POWERTOOLS_SERVICE_NAME", self.service),
                                ("POWERTOOLS_METRICS_NAMESPACE", self.namespace)):
            if not value:
                raise ConfigurationError(f"environment variable {variable} is not set (the stack sets it)")

    def handler(self, *, capture_response: bool = True,
                correlation_id_path: str = "execution_id") -> Callable[[Handler], Handler]:
        """The decorator; `correlation_id_path`: where the event carries its correlation id (the workflow
        functions' `execution_id`; the review API passes API Gateway's request id path)."""
        def decorate(func: Handler) -> Handler:
            observed = self.logger.inject_lambda_context(correlation_id_path=correlation_id_path, clear_state=True)(
                self.tracer.capture_lambda_handler(self.metrics.log_metrics(func), capture_response=capture_response))

            @functools.wraps(func)
            def handler(event: Any, context: Any) -> Any:
                self.require_configuration()
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="No application metrics to publish")
                    return observed(event, context)

            return handler

        return decorate
