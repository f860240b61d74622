"""open_review: write the review item of an image that waits for a human (or is audited).

Handler `lambdas.open_review.handler.handler`; input and item: intake.py. The state machine calls it
with `.waitForTaskToken` (low_confidence, processing_failed: the execution waits until the review
API sends the task token back, or the task times out) or plainly (audit: nobody waits). The return
value `{"review_id", "reason", "opened"}` is ignored while the execution waits.

Environment: REVIEW_TABLE_NAME, REVIEW_TIMEOUT_SECONDS, REVIEW_RETENTION_DAYS, INCOMING_PREFIX,
QUARANTINE_PREFIX (all required; the workflow stack sets them from the config).

Raises (errorType): `InvalidReviewRequestError`, `ConfigurationError`; DynamoDB errors propagate
(the state machine retries the task).

Metrics (dimension set [service, ReviewReason]): ReviewItemsOpened 1 per item written.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from scones_contracts import metrics as names
from scones_contracts.env import Environment

from ..shared import aws_clients
from ..shared.observability import Observability
from ..shared.review_store import ReviewStore
from .intake import IntakeSettings, build_item, parse_intake

observability = Observability()
logger, metrics, tracer = observability.logger, observability.metrics, observability.tracer


def settings_from_env() -> tuple[str, IntakeSettings]:
    read = Environment()
    return read.text("REVIEW_TABLE_NAME"), IntakeSettings(
        timeout_seconds=read.integer("REVIEW_TIMEOUT_SECONDS", minimum=1),
        retention_days=read.integer("REVIEW_RETENTION_DAYS", minimum=1),
        incoming_prefix=read.text("INCOMING_PREFIX"),
        quarantine_prefix=read.text("QUARANTINE_PREFIX"),
    )


@observability.handler(capture_response=False)
def handler(event: Any, context: Any) -> dict[str, Any]:
    table, settings = settings_from_env()
    payload = parse_intake(event)
    item = build_item(payload, settings, datetime.now(timezone.utc))
    logger.append_keys(review_id=item["id"], reason=item["reason"], image_key=item["key"])
    opened = ReviewStore(table, aws_clients.client("dynamodb")).open(item)
    metrics.add_dimension(name=names.REVIEW_REASON_DIMENSION, value=item["reason"])
    metrics.add_metric(name=names.REVIEW_ITEMS_OPENED, unit=MetricUnit.Count, value=int(opened))
    if opened:
        logger.info("review item opened", extra={"waiting": "task_token" in item})
    else:
        logger.warning("review item already decided or expired: left as it is")
    return {"review_id": item["id"], "reason": item["reason"], "opened": opened}
