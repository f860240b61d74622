"""Metric names the Lambdas publish and the monitoring stack alarms on, and their namespace default.

The workflow functions publish EMF through Powertools (namespace from POWERTOOLS_METRICS_NAMESPACE,
dimension `service` = POWERTOOLS_SERVICE_NAME); the drift check publishes with PutMetricData
(dimension `EndpointName`). A metric renamed here is renamed for its publisher and its alarm.
"""
from __future__ import annotations

import re

DEFAULT_NAMESPACE = "SconesUnlimited"

SERVICE_DIMENSION = "service"
MODEL_VERSION_DIMENSION = "ModelVersion"
REASON_CODE_DIMENSION = "ReasonCode"
REVIEW_REASON_DIMENSION = "ReviewReason"  # scones_contracts.review.REVIEW_REASONS
ENDPOINT_DIMENSION = "EndpointName"

# serialize
IMAGES_RECEIVED = "ImagesReceived"
IMAGES_QUARANTINED = "ImagesQuarantined"
IMAGES_NOT_FOUND = "ImagesNotFound"
# classify
ENDPOINT_INVOCATIONS = "EndpointInvocations"
ENDPOINT_ERRORS = "EndpointErrors"
ENDPOINT_LATENCY_MS = "EndpointLatencyMs"
# check confidence (plus one prediction_metric_name(label) per class)
TOP_CONFIDENCE = "TopConfidence"
CONFIDENT_PREDICTIONS = "ConfidentPredictions"
LOW_CONFIDENCE_PREDICTIONS = "LowConfidencePredictions"
# human review (every one in the dimension set [service, ReviewReason]); open_review:
REVIEW_ITEMS_OPENED = "ReviewItemsOpened"
# expire_review:
REVIEWS_EXPIRED = "ReviewsExpired"
# review API, one record per decision:
REVIEWS_DECIDED = "ReviewsDecided"
REVIEW_DECISION_SECONDS = "ReviewDecisionSeconds"  # created_at -> decided_at
# low_confidence items the reviewer labelled bicycle/motorcycle: 1 if the reviewer chose the model's label
REVIEWER_AGREED_WITH_MODEL = "ReviewerAgreedWithModel"
# audit items: 1 if the automatic routing was right (the reviewer chose the model's label; a reject counts as wrong)
AUDIT_MODEL_CORRECT = "AuditModelCorrect"
LABELLED_EXAMPLES = "LabelledExamplesWritten"
# drift check
CAPTURED_RECORDS = "CapturedRecords"
CAPTURE_BAD_RECORDS = "CaptureBadRecords"
CAPTURE_LOW_CONFIDENCE_SHARE = "CaptureLowConfidenceShare"
CAPTURE_MEAN_CONFIDENCE = "CaptureMeanConfidence"
DRIFT_CONFIDENCE_PSI = "DriftConfidencePSI"
DRIFT_CLASS_MIX_SHIFT = "DriftClassMixShift"
DRIFT_DETECTED = "DriftDetected"

# per batch-reclassification execution (the batch summary function)
BATCH_OBJECTS = "BatchObjects"
BATCH_OBJECTS_FAILED = "BatchObjectsFailed"

_MAX_METRIC_NAME = 255  # CloudWatch's limit


def prediction_metric_name(label: str) -> str:
    """Count of predictions of `label`: 'bicycle' -> 'PredictionsBicycle', 'motor_cycle' -> 'PredictionsMotorCycle'."""
    words = [w for w in re.split(r"[^0-9A-Za-z]+", label) if w]
    suffix = "".join(w[:1].upper() + w[1:] for w in words) or "Unknown"
    return ("Predictions" + suffix)[:_MAX_METRIC_NAME]
