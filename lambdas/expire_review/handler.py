"""expire_review: nobody decided a review within review_timeout_hours; mark its item expired.

Handler `lambdas.expire_review.handler.handler`; input: expiry.py. The conditional write moves the
item from pending to expired and drops its task token. If a reviewer's decision won the race (the
item says decided, but the execution had already stopped waiting), the item is left alone: the
review API sees the token refused and marks it expired itself. Either way the execution goes on to
its review_expired outcome; the answer says which happened.

Output: {"review_id", "reason", "expired": bool, "status"}.
Environment: REVIEW_TABLE_NAME (required).
Raises (errorType): `InvalidExpiryRequestError`, `ConfigurationError`, `ReviewNotFound` (no item: the
intake never wrote one); DynamoDB errors propagate (retried by the state machine).
Metrics (dimension set [service, ReviewReason]): ReviewsExpired 1 when this call expired the item.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from scones_contracts import metrics as names
from scones_contracts.env import Environment
from scones_contracts.review import STATUS_EXPIRED

from ..shared import aws_clients
from ..shared.observability import Observability
from ..shared.review_store import NotPending, ReviewStore
from .expiry import parse_expiry

observability = Observability()
logger, metrics, tracer = observability.logger, observability.metrics, observability.tracer


@observability.handler()
def handler(event: Any, context: Any) -> dict[str, Any]:
    table = Environment().text("REVIEW_TABLE_NAME")
    request = parse_expiry(event)
    logger.append_keys(review_id=request.review_id, reason=request.reason)
    store = ReviewStore(table, aws_clients.client("dynamodb"))
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    try:
        item = store.expire(request.review_id, now)
        expired, status = True, item["status"]
    except NotPending as lost:
        expired, status = False, lost.status
    metrics.add_dimension(name=names.REVIEW_REASON_DIMENSION, value=request.reason)
    metrics.add_metric(name=names.REVIEWS_EXPIRED, unit=MetricUnit.Count, value=int(expired))
    logger.warning("review expired: nobody decided in time" if expired
                   else f"review not expired: it is already {status}")
    return {"review_id": request.review_id, "reason": request.reason, "expired": expired,
            "status": STATUS_EXPIRED if expired else status}
