"""What the workflow tells the rest of the business: the routing event and the review messages.

The state machine (stacks/state_machine.py) builds both from these names; consumers (the courier
dispatch rule on the routing bus, the human-review tool on the review queue, the local runtime and
the tests) read them by these names.

Routing event (EventBridge, on the routing bus)::

    source       "scones.vehicle-classifier"
    detail-type  "Vehicle Classified"
    detail       {"bucket", "key", "etag", "version_id", "label", "confidence", "threshold",
                  "model_version", "idempotency_key": "<key>#<etag>", "execution_id"}

Review message (SQS review queue; `reason` tells the two kinds apart)::

    low_confidence     {"reason", "bucket", "key", "etag", "label", "confidence", "threshold",
                        "probabilities", "model_version", "execution_id"}
    processing_failed  {"reason", "bucket", "key", "etag", "error", "cause", "execution_id"}

Outcome of one uploaded image (the execution's output `outcome`, and `scones run`'s lines):
routed, review, quarantined, or failed (the execution failed; a processing_failed message was sent).

EventBridge delivers an upload event at least once, and each delivery starts an execution. The
first execution to claim the object version (key + version id, or ETag) decides its outcome; any
other execution for the same version ends with outcome `duplicate`, having routed nothing. So
`duplicate` is the outcome of a delivery, never of an image.
"""
from __future__ import annotations

ROUTING_EVENT_SOURCE = "scones.vehicle-classifier"
ROUTING_EVENT_DETAIL_TYPE = "Vehicle Classified"
ROUTING_EVENT_FIELDS: tuple[str, ...] = (
    "bucket", "key", "etag", "version_id", "label", "confidence", "threshold", "model_version",
    "idempotency_key", "execution_id",
)

REVIEW_LOW_CONFIDENCE = "low_confidence"
REVIEW_PROCESSING_FAILED = "processing_failed"
REVIEW_MESSAGE_FIELDS: dict[str, tuple[str, ...]] = {
    REVIEW_LOW_CONFIDENCE: ("reason", "bucket", "key", "etag", "label", "confidence", "threshold",
                            "probabilities", "model_version", "execution_id"),
    REVIEW_PROCESSING_FAILED: ("reason", "bucket", "key", "etag", "error", "cause", "execution_id"),
}

OUTCOME_ROUTED = "routed"
OUTCOME_REVIEW = "review"
OUTCOME_QUARANTINED = "quarantined"
OUTCOME_FAILED = "failed"
OUTCOMES: tuple[str, ...] = (OUTCOME_ROUTED, OUTCOME_REVIEW, OUTCOME_QUARANTINED, OUTCOME_FAILED)
OUTCOME_DUPLICATE = "duplicate"  # an execution started by a redelivered upload event


def idempotency_key(key: str, etag: str) -> str:
    """What a consumer deduplicates routing events on: one object version is routed once."""
    return f"{key}#{etag}"
