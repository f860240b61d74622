"""check_confidence: decide whether a classification is confident enough to route automatically.

Handler `lambdas.check_confidence.handler.handler`; input, output and the rule: decision.py.
Environment: THRESHOLD (required; `scones_contracts.decision`'s range), AUDIT_SAMPLE_RATE (required, 0..1).

Raises (errorType): `InvalidClassificationError` (malformed payload), `ConfigurationError`
(missing or invalid THRESHOLD).

Metrics (dimension sets `[service]` and, when the classification carries one, `[service, ModelVersion]`):
    Predictions<Label>        1 for the top label (`scones_contracts.metrics.prediction_metric_name`)
    TopConfidence             top probability (unit None)
    ConfidentPredictions      1 if confident else 0
    LowConfidencePredictions  1 if not confident else 0
"""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from scones_contracts import metrics as names
from scones_contracts.env import Environment
from scones_contracts.review import AUDIT_SAMPLE_RATE_VARIABLE

from ..shared.observability import Observability
from .decision import decide, parse_classification

observability = Observability()
logger, metrics, tracer = observability.logger, observability.metrics, observability.tracer


@observability.handler()
def handler(event: Any, context: Any) -> dict[str, Any]:
    read = Environment()
    threshold = read.threshold("THRESHOLD")
    audit_rate = read.number(AUDIT_SAMPLE_RATE_VARIABLE, minimum=0.0, maximum=1.0)
    classification = parse_classification(event)
    logger.append_keys(bucket=classification.bucket, image_key=classification.key)
    result = decide(classification, threshold, audit_rate)

    model_version = result["model_version"]
    if model_version:
        metrics.add_dimensions(**{names.SERVICE_DIMENSION: observability.service,
                                  names.MODEL_VERSION_DIMENSION: model_version})
    metrics.add_metric(name=names.prediction_metric_name(result["label"]), unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=names.TOP_CONFIDENCE, unit=MetricUnit.NoUnit, value=result["confidence"])
    metrics.add_metric(name=names.CONFIDENT_PREDICTIONS, unit=MetricUnit.Count, value=int(result["confident"]))
    metrics.add_metric(name=names.LOW_CONFIDENCE_PREDICTIONS, unit=MetricUnit.Count, value=int(not result["confident"]))
    tracer.put_annotation(key="label", value=result["label"])
    tracer.put_annotation(key="confident", value=result["confident"])

    logger.info(
        "confident prediction" if result["confident"] else "low-confidence prediction: needs human review",
        extra={"label": result["label"], "confidence": result["confidence"], "threshold": threshold,
               "model_version": model_version, "audit": result["audit"]},
    )
    return result
