"""expire_review: a pending item becomes expired and loses its token; a decision that won the race is left
alone; the metric counts only what this call expired."""
from __future__ import annotations

import pytest

from lambdas.expire_review import handler as expire_review
from lambdas.expire_review.expiry import InvalidExpiryRequestError
from lambdas.shared.review_store import ReviewNotFound, ReviewStore
from scones_contracts.review import review_id
from tests.lambdas.lambda_helpers import emf_records_with, emf_values, invoke
from tests.lambdas.review_fixtures import TABLE, dynamodb  # noqa: F401

handler = expire_review.handler
EXECUTION = "arn:aws:states:us-east-1:1:execution:m:late"


def open_item(dynamodb, reason: str = "low_confidence") -> str:
    item_id = review_id(EXECUTION, reason)
    ReviewStore(TABLE, dynamodb).open({"id": item_id, "status": "pending", "reason": reason, "task_token": "t",
                                       "created_at": "2026-01-01T00:00:00.000Z", "execution_id": EXECUTION})
    return item_id


def test_a_pending_review_expires_and_loses_its_token(dynamodb, lambda_context, emf):
    item_id = open_item(dynamodb)
    result = invoke(handler, {"reason": "low_confidence", "execution_id": EXECUTION}, lambda_context)
    assert result == {"review_id": item_id, "reason": "low_confidence", "expired": True, "status": "expired"}
    item = ReviewStore(TABLE, dynamodb).get(item_id)
    assert item["status"] == "expired" and "task_token" not in item and item["expired_at"].endswith("Z")
    (record,) = emf_records_with(emf(), "ReviewsExpired")
    assert record["ReviewReason"] == "low_confidence" and emf_values(record, "ReviewsExpired") == [1.0]


def test_a_decision_that_won_the_race_is_left_alone(dynamodb, lambda_context, emf):
    item_id = open_item(dynamodb, "processing_failed")
    ReviewStore(TABLE, dynamodb).decide(item_id, label="bicycle", note="", reviewer="r", decided_at="x")
    result = invoke(handler, {"reason": "processing_failed", "execution_id": EXECUTION}, lambda_context)
    assert result["expired"] is False and result["status"] == "decided"
    assert ReviewStore(TABLE, dynamodb).get(item_id)["decided_label"] == "bicycle"
    (record,) = emf_records_with(emf(), "ReviewsExpired")
    assert emf_values(record, "ReviewsExpired") == [0.0]


def test_no_item_is_an_error_naming_the_review(dynamodb, lambda_context):
    with pytest.raises(ReviewNotFound, match=review_id(EXECUTION, "low_confidence")):
        handler({"reason": "low_confidence", "execution_id": EXECUTION}, lambda_context)


@pytest.mark.parametrize("event", [{"reason": "audit", "execution_id": EXECUTION}, {"reason": "low_confidence"}])
def test_bad_requests_are_refused(dynamodb, lambda_context, event):
    with pytest.raises(InvalidExpiryRequestError, match="invalid expiry request"):
        handler(event, lambda_context)
