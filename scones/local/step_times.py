"""Where one image's time went, from its execution history (what `scones run` and the bench report).

`step_times(events, uploaded_at, observed_at)` splits the latency of one upload into:

    upload_to_start     the upload (S3 PutObject), S3's event to EventBridge, the upload rule's
                        delivery and StartExecution: upload time to the ExecutionStarted event
    serialize, classify, check_confidence
                        the Lambda task states, entry to exit (the handler plus the invocation:
                        the interpreter's Lambda call, moto's request and response handling)
    dynamodb, events, sqs, s3
                        the service-integration task states, by the service they call (the
                        delivery claim, the routing event, the review queue, the quarantine copy)
    orchestration       the rest of the execution: Choice and Pass states, transitions between
                        states, the interpreter's own work
    observed            execution end to the runtime seeing the outcome (its polling)

A task state that did not run for the image is absent (a routed image sends nothing to SQS).
History timestamps have millisecond resolution, as in AWS.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

LAMBDA_STEPS = {"Serialize image": "serialize", "Classify vehicle": "classify", "Check confidence": "check_confidence"}
STEP_ORDER = ("upload_to_start", "dynamodb", "serialize", "s3", "classify", "check_confidence", "sqs", "events",
              "orchestration", "observed")
STEP_LABELS = {
    "upload_to_start": "upload -> S3 event -> EventBridge rule -> execution start",
    "dynamodb": "claim the object version (DynamoDB putItem task)",
    "serialize": "Serialize image (Lambda task)",
    "s3": "quarantine copy and reason (S3 tasks)",
    "classify": "Classify vehicle (Lambda task, endpoint call)",
    "check_confidence": "Check confidence (Lambda task)",
    "sqs": "review queue message (SQS task)",
    "events": "routing event (EventBridge putEvents task)",
    "orchestration": "Choice/Pass states, transitions, interpreter",
    "observed": "execution end -> outcome seen by the runtime",
}


def _ms(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() * 1000


def step_times(events: list[dict[str, Any]], uploaded_at: float | None = None,
               observed_at: float | None = None) -> dict[str, float]:
    """Milliseconds per step (see the module docstring); `uploaded_at`/`observed_at` are epoch seconds."""
    if not events:
        return {}
    spent: dict[str, float] = {name: 0.0 for name in LAMBDA_STEPS.values()}
    entered: dict[str, datetime] = {}
    service: dict[str, str] = {}  # task state -> the service it called
    current = None
    for event in events:
        if "stateEnteredEventDetails" in event:
            current = event["stateEnteredEventDetails"]["name"]
            entered[current] = event["timestamp"]
        elif "taskScheduledEventDetails" in event and current:
            service[current] = event["taskScheduledEventDetails"]["resourceType"].split(":")[-1]
        elif "stateExitedEventDetails" in event:
            name = event["stateExitedEventDetails"]["name"]
            step = LAMBDA_STEPS.get(name) or service.get(name)
            if step and name in entered:
                spent[step] = spent.get(step, 0.0) + _ms(event["timestamp"], entered[name])
    first, last = events[0]["timestamp"], events[-1]["timestamp"]
    spent["orchestration"] = max(0.0, _ms(last, first) - sum(spent.values()))
    if uploaded_at is not None:
        spent["upload_to_start"] = max(0.0, _ms(first, datetime.fromtimestamp(uploaded_at, timezone.utc)))
    if observed_at is not None:
        spent["observed"] = max(0.0, _ms(datetime.fromtimestamp(observed_at, timezone.utc), last))
    return {k: round(v, 2) for k, v in sorted(spent.items(), key=lambda kv: _order(kv[0]))}


def _order(step: str) -> int:
    return STEP_ORDER.index(step) if step in STEP_ORDER else len(STEP_ORDER)
