"""Human review: the review item, its reasons and statuses, the reviewer's decision, and the audit sample.

The workflow writes review items into the review table (DynamoDB; the intake function
`lambdas.open_review`), the review API lists and decides them (`lambdas.review_api`), the
expiry function marks the ones nobody decided (`lambdas.expire_review`). One item per review::

    id              review_id(execution ARN, reason): a retried intake rewrites the same item
    execution_id    the execution ARN that waits (or, for an audit, that routed the driver)
    reason          low_confidence | processing_failed | audit
    status          pending -> decided | expired (only ever from pending, by conditional writes)
    created_at      ISO-8601 UTC with milliseconds (sorts chronologically as text)
    bucket, key, etag, version_id, content_type     the uploaded object
    model_label, confidence, probabilities, threshold, model_version   (absent when the model never answered)
    error, cause    why processing failed (processing_failed only)
    task_token      the Step Functions token that resumes the execution; absent for audits; never
                    leaves the table (the API's listing and answers never carry it)
    resume          JSON text the workflow stores for itself and gets back with the decision
    decided_label, decided_note, decided_by, decided_at     once decided
    expires_at      epoch seconds, the table's TTL attribute

The decision a reviewer sends resumes the execution with (SendTaskSuccess output)::

    {"review_id", "label": bicycle|motorcycle|reject, "note", "reviewer", "decided_at", "resume": {...}}
"""
from __future__ import annotations

import hashlib
import math
from typing import Any

from .classes import CLASS_NAMES

REASON_LOW_CONFIDENCE = "low_confidence"
REASON_PROCESSING_FAILED = "processing_failed"
REASON_AUDIT = "audit"
REVIEW_REASONS: tuple[str, ...] = (REASON_LOW_CONFIDENCE, REASON_PROCESSING_FAILED, REASON_AUDIT)
# A driver waits for these (the item holds a task token); an audit never keeps anyone waiting.
WAITING_REASONS: tuple[str, ...] = (REASON_LOW_CONFIDENCE, REASON_PROCESSING_FAILED)

STATUS_PENDING = "pending"
STATUS_DECIDED = "decided"
STATUS_EXPIRED = "expired"
REVIEW_STATUSES: tuple[str, ...] = (STATUS_PENDING, STATUS_DECIDED, STATUS_EXPIRED)

REJECT = "reject"
DECISION_LABELS: tuple[str, ...] = (*CLASS_NAMES, REJECT)
REJECTED_BY_REVIEWER = "rejected_by_reviewer"  # the quarantine reason code of a reject
MAX_NOTE_LENGTH = 1000

REVIEWER_GROUP = "reviewers"  # the Cognito group whose members may list and decide reviews
STATUS_INDEX = "status-created_at"  # GSI: partition `status`, sort `created_at` ("pending, oldest first")
TTL_ATTRIBUTE = "expires_at"

# GET /api/reviews: one entry per pending review (the field list).
LISTING_FIELDS: tuple[str, ...] = ("id", "key", "reason", "model_label", "confidence", "probabilities",
                                   "created_at", "image_url")
# What the status index projects (the listing's stored fields and the execution; never the task token).
INDEX_PROJECTION: tuple[str, ...] = ("key", "bucket", "version_id", "content_type", "reason", "model_label",
                                     "confidence", "probabilities", "execution_id", "error")
DECISION_OUTPUT_FIELDS: tuple[str, ...] = ("review_id", "label", "note", "reviewer", "decided_at", "resume")


def review_id(execution_id: str, reason: str) -> str:
    """The review item of one execution for one reason (32 hex characters)."""
    if reason not in REVIEW_REASONS:
        raise ValueError(f"review reason must be one of {REVIEW_REASONS}, got {reason!r}")
    return hashlib.sha256(f"{execution_id}#{reason}".encode()).hexdigest()[:32]


# The decision function's environment variable holding the audit sample rate (stack -> Lambda; the
# cost model reads it from the synthesized template to weight the audited share of routed images).
AUDIT_SAMPLE_RATE_VARIABLE = "AUDIT_SAMPLE_RATE"


def validate_rate(value: Any, source: str = "audit_sample_rate") -> float:
    """A share in [0, 1]; raises ValueError naming `source` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{source} must be a number between 0 and 1, got {value!r}")
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{source} must be a number between 0 and 1, got {value!r}") from None
    if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
        raise ValueError(f"{source} must be between 0 and 1, got {value!r}")
    return rate


def is_audit_sample(sample_key: str, rate: float) -> bool:
    """Whether a confident decision is also audited: a deterministic share `rate` of sample keys.

    Deterministic (a hash of the object's idempotency key, not a random draw), so a retried step
    decides the same way and a test can name an image that is sampled.
    """
    if rate <= 0.0:
        return False
    draw = int(hashlib.sha256(f"audit#{sample_key}".encode()).hexdigest()[:12], 16) / float(1 << 48)
    return draw < rate
