"""filter: decide whether a classification is confident enough to route automatically.

Handler: ``filter.handler.handler`` in AWS (``lambdas.filter.handler.handler`` in tests).

Input::

    {"classification": <classify output>, "execution_id": str}

Output (low confidence is an outcome, never an exception)::

    {"confident": bool (confidence >= threshold, and no tie for the top), "label": top class,
     "confidence": top probability,
     "threshold", "probabilities", "bucket", "key", "etag", "version_id", "model_version"}

Raises (errorType): ``InvalidClassificationError`` (malformed payload), ``ConfigurationError`` (bad THRESHOLD).

Environment variables:
    THRESHOLD                     confidence threshold, 0 < T < 1 (default 0.93).
    POWERTOOLS_SERVICE_NAME       service name for logs/metrics (default "filter").
    POWERTOOLS_METRICS_NAMESPACE  CloudWatch namespace (default "SconesUnlimited").
    POWERTOOLS_TRACE_DISABLED     "true" to disable X-Ray tracing (tests, local runtime).

Metrics (dimension sets ``[service]`` and, when the classification carries one, ``[service, ModelVersion]``):
    Predictions<Label>        1 for the top label: PredictionsBicycle / PredictionsMotorcycle
                              (name = "Predictions" + CamelCase(label)).
    TopConfidence             top probability (unit None).
    ConfidentPredictions      1 if confident else 0.
    LowConfidencePredictions  1 if not confident else 0.
"""
from __future__ import annotations

import functools
import os
import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from .decision import decide, label_metric_name, parse_classification, threshold_from_env

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "filter"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "SconesUnlimited"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


def _quiet_when_no_metrics(func: Any) -> Any:
    """Paths that emit no metric (e.g. a malformed payload) must not trip warnings-as-errors."""

    @functools.wraps(func)
    def wrapper(event: Any, context: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No application metrics to publish")
            return func(event, context)

    return wrapper


@_quiet_when_no_metrics
@logger.inject_lambda_context(correlation_id_path="execution_id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: Any) -> dict[str, Any]:
    threshold = threshold_from_env()
    classification = parse_classification(event)
    logger.append_keys(bucket=classification["bucket"], image_key=classification["key"])
    result = decide(classification, threshold)

    model_version = result["model_version"]
    if model_version:
        metrics.add_dimensions(service=SERVICE, ModelVersion=model_version)
    metrics.add_metric(name=label_metric_name(result["label"]), unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="TopConfidence", unit=MetricUnit.NoUnit, value=result["confidence"])
    metrics.add_metric(name="ConfidentPredictions", unit=MetricUnit.Count, value=int(result["confident"]))
    metrics.add_metric(name="LowConfidencePredictions", unit=MetricUnit.Count, value=int(not result["confident"]))
    tracer.put_annotation(key="label", value=result["label"])
    tracer.put_annotation(key="confident", value=result["confident"])

    logger.info(
        "confident prediction" if result["confident"] else "low-confidence prediction: needs human review",
        extra={"label": result["label"], "confidence": result["confidence"], "threshold": threshold,
               "model_version": model_version},
    )
    return result
