"""Pure core of the review intake: the request from the state machine, and the review item it becomes.

Input (the state machine's "Wait for review" task, `.waitForTaskToken`, or its "Open audit review" task)::

    {"request": {"reason": "low_confidence" | "processing_failed" | "audit",
                 "bucket", "key", "etag", "version_id", "source_format"?,
                 "decision"?: <check_confidence output>        (low_confidence, audit: required)
                 "error"?: {"Error", "Cause"}},                 (processing_failed: required)
     "execution_id": str, "task_token"?: str}                   (required unless the reason is audit)

The item (`scones_contracts.review`): everything the console shows and the decision needs, plus
`resume`, JSON the execution gets back with the decision: the model's guess (nulls when the model
never answered) and where the image goes if the reviewer rejects it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from scones_contracts import quarantine
from scones_contracts.review import (REASON_AUDIT, REASON_LOW_CONFIDENCE, REASON_PROCESSING_FAILED,
                                     STATUS_PENDING, TTL_ATTRIBUTE, review_id)

from ..shared.payloads import NonBlank, ObjectRef, Probability, StrictModel, parse_payload

CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
UNKNOWN_CONTENT_TYPE = "application/octet-stream"
MAX_ERROR_TEXT = 4000  # characters of an error cause kept on the item


class InvalidReviewRequestError(Exception):
    """The state machine sent a review request this function cannot turn into an item."""


class ModelDecision(StrictModel):
    label: NonBlank
    confidence: Probability
    threshold: Probability
    probabilities: Annotated[dict[NonBlank, Probability], Field(min_length=1)]
    model_version: str | None = None


class TaskError(StrictModel):
    Error: str = ""
    Cause: str = ""


class ReviewRequest(ObjectRef):
    reason: Literal["low_confidence", "processing_failed", "audit"]
    source_format: str | None = None
    decision: ModelDecision | None = None
    error: TaskError | None = None

    @model_validator(mode="after")
    def _fields_of_the_reason(self) -> "ReviewRequest":
        if self.reason in (REASON_LOW_CONFIDENCE, REASON_AUDIT) and self.decision is None:
            raise ValueError(f"a {self.reason} review needs the model's 'decision'")
        if self.reason == REASON_PROCESSING_FAILED and self.error is None:
            raise ValueError("a processing_failed review needs the 'error'")
        return self


class IntakePayload(StrictModel):
    request: ReviewRequest
    execution_id: NonBlank
    task_token: str | None = None

    @model_validator(mode="after")
    def _token_iff_someone_waits(self) -> "IntakePayload":
        if self.request.reason == REASON_AUDIT and self.task_token:
            raise ValueError("an audit review keeps nobody waiting: no task_token")
        if self.request.reason != REASON_AUDIT and not self.task_token:
            raise ValueError(f"a {self.request.reason} review needs the execution's 'task_token'")
        return self


@dataclass(frozen=True)
class IntakeSettings:
    timeout_seconds: int
    retention_days: int
    incoming_prefix: str
    quarantine_prefix: str


def parse_intake(event: Any) -> IntakePayload:
    return parse_payload(event, IntakePayload, InvalidReviewRequestError, "review request")


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_item(payload: IntakePayload, settings: IntakeSettings, now: datetime) -> dict[str, Any]:
    """The pending review item for `payload`, created at `now` (see the module docstring)."""
    request = payload.request
    decision = request.decision
    where = quarantine.quarantine_location(request.key, version_id=request.version_id, etag=request.etag,
                                           incoming_prefix=settings.incoming_prefix,
                                           quarantine_prefix=settings.quarantine_prefix)
    model = {"label": decision.label if decision else None,
             "confidence": decision.confidence if decision else None,
             "threshold": decision.threshold if decision else None,
             "model_version": decision.model_version if decision else None}
    resume = {
        "model": model,
        "quarantine": {"copy_source": quarantine.copy_source(request.bucket, request.key, request.version_id),
                       "quarantine_key": where.image_key, "reason_key": where.reason_key},
    }
    item: dict[str, Any] = {
        "id": review_id(payload.execution_id, request.reason),
        "execution_id": payload.execution_id,
        "reason": request.reason,
        "status": STATUS_PENDING,
        "created_at": iso(now),
        "bucket": request.bucket,
        "key": request.key,
        "etag": request.etag,
        "version_id": request.version_id,
        "content_type": CONTENT_TYPES.get((request.source_format or "").upper(), UNKNOWN_CONTENT_TYPE),
        "resume": json.dumps(resume, sort_keys=True),
        TTL_ATTRIBUTE: int(now.timestamp()) + settings.timeout_seconds + settings.retention_days * 86400,
    }
    if decision:
        item.update(model_label=decision.label, confidence=decision.confidence, threshold=decision.threshold,
                    probabilities=dict(decision.probabilities), model_version=decision.model_version)
    if request.error:
        item.update(error=request.error.Error or "unknown error", cause=request.error.Cause[:MAX_ERROR_TEXT])
    if payload.task_token:
        item["task_token"] = payload.task_token
    return {name: value for name, value in item.items() if value is not None}
