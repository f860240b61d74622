"""Pure core of the confidence check: the classification payload and the decision.

Input::

    {"classification": <classify output>, "execution_id": str}

Output (low confidence is an outcome, never an exception)::

    {"confident": bool, "audit": bool, "label": top class, "confidence": top probability, "threshold",
     "probabilities", "bucket", "key", "etag", "version_id", "model_version"}

`confident` follows `scones_contracts.decision.is_confident` (equal to the threshold counts), and a
tie for the top probability is never confident: the label reported is then the first of the tied
labels in payload order. `audit`: a confident decision in the audit sample
(`scones_contracts.review.is_audit_sample` of the object's idempotency key at the audit rate): it is
routed as any other AND a reviewer labels it, which measures the live accuracy of automatic routing.
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from scones_contracts.decision import is_confident
from scones_contracts.events import idempotency_key
from scones_contracts.review import is_audit_sample

from ..shared.payloads import NonBlank, ObjectRef, Probability, StrictModel, parse_payload


class InvalidClassificationError(Exception):
    """The classification payload is malformed (Lambda reports this class name as errorType)."""


class Classification(ObjectRef):
    probabilities: Annotated[dict[NonBlank, Probability], Field(min_length=1)]
    model_version: str | None = None


class ConfidencePayload(StrictModel):
    classification: Classification
    execution_id: str | None = None


def parse_classification(event: Any) -> Classification:
    return parse_payload(event, ConfidencePayload, InvalidClassificationError, "classification payload").classification


def decide(classification: Classification, threshold: float, audit_rate: float = 0.0) -> dict[str, Any]:
    """The top class, whether its probability reaches `threshold`, and whether it is audited (see the
    module docstring)."""
    probabilities = dict(classification.probabilities)
    label = max(probabilities, key=probabilities.__getitem__)
    confidence = probabilities[label]
    tied = sum(1 for p in probabilities.values() if p == confidence) > 1
    confident = is_confident(confidence, threshold) and not tied
    sample_key = idempotency_key(classification.key, classification.etag or "")
    return {
        "confident": confident,
        "audit": confident and is_audit_sample(sample_key, audit_rate),
        "label": label,
        "confidence": confidence,
        "threshold": threshold,
        "probabilities": probabilities,
        "bucket": classification.bucket,
        "key": classification.key,
        "etag": classification.etag,
        "version_id": classification.version_id,
        "model_version": classification.model_version,
    }
