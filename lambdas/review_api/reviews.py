"""Pure core of the review API: list pending reviews, decide one. No HTTP, no AWS clients: the store,
the task resumer, the labelled-example writer, the image signer and the clock are handed in.

Listing: `{"reviews": [{"id", "key", "reason", "model_label", "confidence", "probabilities",
"created_at", "image_url", "error"}, ...], "pending": <how many are pending>}`, oldest first, at most
`list_limit` (model_label/confidence/probabilities are null when the model never answered; `error`
is the processing failure, else null). The task token never appears.

Deciding (`scones_contracts.review` for the item and what resumes the execution):
1. the body: `{"label": "bicycle" | "motorcycle" | "reject", "note": "..."}` (note optional, at most
   MAX_NOTE_LENGTH characters) or 400 naming the allowed values;
2. a conditional write pending -> decided: 404 for an unknown id, 409 if it is no longer pending
   (two reviewers racing: exactly one wins);
3. if someone waits (the item has a task token), the decision resumes the execution once. The
   workflow refusing the token (it timed out meanwhile) -> the item becomes `expired`, 409; any other
   failure -> the item is pending again, 503 (try again);
4. then the labelled example (not for a reject); the answer:
   `{"id", "status": "decided", "label", "note", "reviewer", "decided_at", "resumed", "labelled_example"}`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Protocol

from scones_contracts.classes import CLASS_NAMES
from scones_contracts.review import (DECISION_LABELS, MAX_NOTE_LENGTH, REASON_AUDIT, REASON_LOW_CONFIDENCE,
                                     STATUS_EXPIRED, STATUS_PENDING)

from ..shared.review_store import NotPending, ReviewNotFound, ReviewStore
from .errors import BadRequest, Conflict, NotFound, Unavailable
from .examples import LabelledExamples
from .identity import Reviewer
from .images import ImageRef


class ResumeRefused(Exception):
    """The execution no longer waits for this token (it timed out, or the token is unknown)."""


class ResumeFailed(Exception):
    """Telling the execution failed for a reason worth retrying."""


class TaskResumer(Protocol):
    def resume(self, task_token: str, output: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Decision:
    label: str
    note: str


def parse_decision(body: Any) -> Decision:
    """The decision body, or BadRequest naming what is wrong and the allowed labels."""
    allowed = list(DECISION_LABELS)
    if not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object {"label": ..., "note": ...}', allowed_labels=allowed)
    label = body.get("label")
    if label not in DECISION_LABELS:
        raise BadRequest(f"label must be one of {', '.join(allowed)}; got {json.dumps(label)}", allowed_labels=allowed)
    note = body.get("note", "")
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise BadRequest("note must be text")
    if len(note) > MAX_NOTE_LENGTH:
        raise BadRequest(f"note must be at most {MAX_NOTE_LENGTH} characters, got {len(note)}")
    unknown = sorted(set(body) - {"label", "note"})
    if unknown:
        raise BadRequest(f"unknown field(s) {unknown}; a decision has 'label' and 'note'")
    return Decision(label=label, note=note.strip())


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds_between(start_iso: str, end_iso: str) -> float:
    parse = lambda text: datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
    return max(0.0, (parse(end_iso) - parse(start_iso)).total_seconds())


def decision_metrics(item: dict[str, Any], label: str, decided_at: str) -> dict[str, float]:
    """What a decision tells about the model (metric name -> value; scones_contracts.metrics names):
    reviews decided, time to decision, agreement with the model on low-confidence items (bicycle or
    motorcycle decisions only), and for audits whether the automatic routing was right (a reject of
    an automatically routed photo counts as wrong)."""
    from scones_contracts import metrics as names

    values = {names.REVIEWS_DECIDED: 1.0,
              names.REVIEW_DECISION_SECONDS: seconds_between(item["created_at"], decided_at)}
    model_label = item.get("model_label")
    if item["reason"] == REASON_LOW_CONFIDENCE and model_label and label in CLASS_NAMES:
        values[names.REVIEWER_AGREED_WITH_MODEL] = float(label == model_label)
    if item["reason"] == REASON_AUDIT and model_label:
        values[names.AUDIT_MODEL_CORRECT] = float(label == model_label)
    return values


class ReviewService:
    def __init__(self, *, store: ReviewStore, resumer: TaskResumer, examples: LabelledExamples,
                 sign: Callable[[ImageRef], str], now: Callable[[], datetime], list_limit: int) -> None:
        self.store, self.resumer, self.examples = store, resumer, examples
        self.sign, self.now, self.list_limit = sign, now, list_limit

    def pending(self) -> dict[str, Any]:
        items, count = self.store.pending(self.list_limit)
        return {"reviews": [self._listed(item) for item in items], "pending": count}

    def _listed(self, item: dict[str, Any]) -> dict[str, Any]:
        image = ImageRef(bucket=item["bucket"], key=item["key"], version_id=item.get("version_id"),
                         content_type=item.get("content_type") or "application/octet-stream")
        return {"id": item["id"], "key": item["key"], "reason": item["reason"],
                "model_label": item.get("model_label"), "confidence": item.get("confidence"),
                "probabilities": item.get("probabilities"), "created_at": item["created_at"],
                "image_url": self.sign(image), "error": item.get("error")}

    def decide(self, review_id: str, decision: Decision, reviewer: Reviewer) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the answer, the decided item); raises NotFound / Conflict / Unavailable (module docstring)."""
        decided_at = iso(self.now())
        try:
            item = self.store.decide(review_id, label=decision.label, note=decision.note, reviewer=reviewer.name,
                                     decided_at=decided_at)
        except ReviewNotFound:
            raise NotFound(f"no review {review_id}") from None
        except NotPending as lost:
            raise Conflict(f"review {review_id} is already {lost.status}", status=lost.status) from None
        resumed = False
        if item.get("task_token"):
            output = {"review_id": review_id, "label": decision.label, "note": decision.note,
                      "reviewer": reviewer.name, "decided_at": decided_at, "resume": json.loads(item["resume"])}
            try:
                self.resumer.resume(item["task_token"], output)
            except ResumeRefused:
                self.store.undo_decision(review_id, decided_at, STATUS_EXPIRED)
                raise Conflict(f"review {review_id} expired before the decision reached the workflow",
                               status=STATUS_EXPIRED) from None
            except ResumeFailed as failure:
                self.store.undo_decision(review_id, decided_at, STATUS_PENDING)
                raise Unavailable(f"the workflow could not be told ({failure}); the review is pending again: "
                                  "try again") from None
            resumed = True
        example = self.examples.write(item, decision.label)
        answer = {"id": review_id, "status": item["status"], "label": decision.label, "note": decision.note,
                  "reviewer": reviewer.name, "decided_at": decided_at, "resumed": resumed,
                  "labelled_example": example.list_key}
        return answer, {**item, "example_skipped": example.skipped}
