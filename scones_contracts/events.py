"""What the workflow tells the rest of the business: the events on the routing bus, and the outcome
of each uploaded image.

The state machine (stacks/state_machine.py, stacks/review_steps.py) builds the events from these
names; consumers (the courier dispatch rule on the routing bus, the driver app, the local runtime
and the tests) read them by these names. Every event has source "scones.vehicle-classifier".

"Vehicle Classified" (a driver is routed)::

    {"bucket", "key", "etag", "version_id", "label", "confidence", "threshold", "model_version",
     "decided_by", "model_label", "model_confidence", "idempotency_key": "<key>#<etag>", "execution_id"}

    decided_by "model": the model was confident; label == model_label, confidence == model_confidence.
    decided_by "reviewer": a human chose `label` (bicycle or motorcycle); model_label and
    model_confidence (= confidence) are the model's own guess, for comparison; all three and threshold
    and model_version are null when the model never answered (a processing failure).

"Photo Rejected" (a reviewer found no usable vehicle photo: the driver app asks for a new one)::

    {"bucket", "key", "etag", "version_id", "reason_code": "rejected_by_reviewer", "note", "review_id",
     "quarantine_key", "idempotency_key", "execution_id"}

"Review Expired" (nobody decided within review_timeout_hours; the image is kept where it was)::

    {"bucket", "key", "etag", "version_id", "review_id", "reason", "idempotency_key", "execution_id"}

Outcome of one uploaded image (the execution's output `outcome`, and `scones run`'s lines): routed
(with decided_by), quarantined (serialize refused the image, or a reviewer rejected it:
reason_code "rejected_by_reviewer"), review_expired, or failed (the execution failed). The local
runtime also reports `review` for an image still waiting for a reviewer when it stops watching.

EventBridge delivers an upload event at least once, and each delivery starts an execution. The
first execution to claim the object version (key + version id, or ETag) decides its outcome; any
other execution for the same version ends with outcome `duplicate`, having routed nothing. So
`duplicate` is the outcome of a delivery, never of an image.
"""
from __future__ import annotations

ROUTING_EVENT_SOURCE = "scones.vehicle-classifier"
ROUTING_EVENT_DETAIL_TYPE = "Vehicle Classified"
PHOTO_REJECTED_DETAIL_TYPE = "Photo Rejected"
REVIEW_EXPIRED_DETAIL_TYPE = "Review Expired"

DECIDED_BY_MODEL = "model"
DECIDED_BY_REVIEWER = "reviewer"

ROUTING_EVENT_FIELDS: tuple[str, ...] = (
    "bucket", "key", "etag", "version_id", "label", "confidence", "threshold", "model_version",
    "decided_by", "model_label", "model_confidence", "idempotency_key", "execution_id",
)
PHOTO_REJECTED_FIELDS: tuple[str, ...] = (
    "bucket", "key", "etag", "version_id", "reason_code", "note", "review_id", "quarantine_key",
    "idempotency_key", "execution_id",
)
REVIEW_EXPIRED_FIELDS: tuple[str, ...] = (
    "bucket", "key", "etag", "version_id", "review_id", "reason", "idempotency_key", "execution_id",
)
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    ROUTING_EVENT_DETAIL_TYPE: ROUTING_EVENT_FIELDS,
    PHOTO_REJECTED_DETAIL_TYPE: PHOTO_REJECTED_FIELDS,
    REVIEW_EXPIRED_DETAIL_TYPE: REVIEW_EXPIRED_FIELDS,
}

OUTCOME_ROUTED = "routed"
OUTCOME_QUARANTINED = "quarantined"
OUTCOME_REVIEW_EXPIRED = "review_expired"
OUTCOME_FAILED = "failed"
OUTCOME_REVIEW = "review"  # local runtime only: still waiting for a reviewer when it stopped watching
OUTCOMES: tuple[str, ...] = (OUTCOME_ROUTED, OUTCOME_QUARANTINED, OUTCOME_REVIEW_EXPIRED, OUTCOME_FAILED,
                             OUTCOME_REVIEW)
OUTCOME_DUPLICATE = "duplicate"  # an execution started by a redelivered upload event


def idempotency_key(key: str, etag: str) -> str:
    """What a consumer deduplicates events on: one object version is routed (or rejected) once."""
    return f"{key}#{etag}"
