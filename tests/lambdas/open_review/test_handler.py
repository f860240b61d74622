"""open_review: a review request becomes a pending item (token kept in the table only), retries rewrite it,
decided items are never reopened, bad requests are refused naming the problem, one metric per item."""
from __future__ import annotations

import json
import time

import pytest

from lambdas.open_review import handler as open_review
from lambdas.open_review.intake import InvalidReviewRequestError
from lambdas.shared.review_store import ReviewStore
from scones_contracts.quarantine import quarantine_location
from scones_contracts.review import review_id
from tests.lambdas.lambda_helpers import emf_dimension_sets, emf_records_with, emf_values, invoke
from tests.lambdas.review_fixtures import TABLE, dynamodb  # noqa: F401

handler = open_review.handler
DECISION = {"confident": False, "label": "bicycle", "confidence": 0.62, "threshold": 0.93,
            "probabilities": {"bicycle": 0.62, "motorcycle": 0.38}, "model_version": "v7",
            "bucket": "b", "key": "incoming/x.png", "etag": "e", "version_id": "v1"}


def request(reason: str = "low_confidence", **overrides) -> dict:
    value = {"reason": reason, "bucket": "b", "key": "incoming/driver 7/x.png", "etag": "e", "version_id": "v1",
             "source_format": "JPEG"}
    if reason in ("low_confidence", "audit"):
        value["decision"] = DECISION
    else:
        value["error"] = {"Error": "EndpointUnavailableError", "Cause": json.dumps({"errorMessage": "HTTP 500"})}
    value.update(overrides)
    return value


def payload(reason: str = "low_confidence", token: str | None = "token-1", **overrides) -> dict:
    event = {"request": request(reason, **overrides), "execution_id": "arn:aws:states:us-east-1:1:execution:m:x"}
    if token:
        event["task_token"] = token
    return event


def stored(dynamodb, reason: str = "low_confidence") -> dict:
    return ReviewStore(TABLE, dynamodb).get(review_id("arn:aws:states:us-east-1:1:execution:m:x", reason))


def test_a_low_confidence_request_becomes_a_pending_item_with_the_token(dynamodb, lambda_context):
    before = time.time()
    result = invoke(handler, payload(), lambda_context)
    assert result == {"review_id": review_id("arn:aws:states:us-east-1:1:execution:m:x", "low_confidence"),
                      "reason": "low_confidence", "opened": True}
    item = stored(dynamodb)
    assert item["status"] == "pending" and item["task_token"] == "token-1"
    assert (item["bucket"], item["key"], item["etag"], item["version_id"]) == ("b", "incoming/driver 7/x.png", "e", "v1")
    assert item["content_type"] == "image/jpeg" and item["model_label"] == "bicycle" and item["confidence"] == 0.62
    assert item["probabilities"] == {"bicycle": 0.62, "motorcycle": 0.38} and item["model_version"] == "v7"
    assert item["created_at"].endswith("Z") and before + 86400 + 90 * 86400 - 1 <= item["expires_at"]
    resume = json.loads(item["resume"])
    assert resume["model"] == {"label": "bicycle", "confidence": 0.62, "threshold": 0.93, "model_version": "v7"}
    where = quarantine_location("incoming/driver 7/x.png", version_id="v1", etag="e", incoming_prefix="incoming/",
                                quarantine_prefix="quarantine/")
    assert resume["quarantine"] == {"copy_source": "b/incoming/driver%207/x.png?versionId=v1",
                                    "quarantine_key": where.image_key, "reason_key": where.reason_key}


def test_a_processing_failure_keeps_the_error_and_has_no_model_guess(dynamodb, lambda_context):
    invoke(handler, payload("processing_failed", source_format=None), lambda_context)
    item = stored(dynamodb, "processing_failed")
    assert item["error"] == "EndpointUnavailableError" and "HTTP 500" in item["cause"]
    assert "model_label" not in item and item["content_type"] == "application/octet-stream"
    assert json.loads(item["resume"])["model"] == {"label": None, "confidence": None, "threshold": None,
                                                   "model_version": None}


def test_an_audit_item_has_no_token(dynamodb, lambda_context):
    invoke(handler, payload("audit", token=None), lambda_context)
    item = stored(dynamodb, "audit")
    assert item["reason"] == "audit" and "task_token" not in item and item["status"] == "pending"


def test_a_retried_intake_rearms_the_pending_item_but_never_reopens_a_decided_one(dynamodb, lambda_context):
    invoke(handler, payload(token="token-1"), lambda_context)
    invoke(handler, payload(token="token-2"), lambda_context)
    assert stored(dynamodb)["task_token"] == "token-2"
    ReviewStore(TABLE, dynamodb).decide(stored(dynamodb)["id"], label="bicycle", note="", reviewer="r",
                                        decided_at="2026-01-01T00:00:00.000Z")
    assert invoke(handler, payload(token="token-3"), lambda_context)["opened"] is False
    assert stored(dynamodb)["status"] == "decided" and stored(dynamodb)["task_token"] == "token-2"


@pytest.mark.parametrize("event, fragment", [
    (payload(token=None), "needs the execution's 'task_token'"),
    (payload("audit", token="t"), "no task_token"),
    (payload(decision=None), "needs the model's 'decision'"),
    (payload("processing_failed", error=None), "needs the 'error'"),
    ({**payload(), "request": request(reason="bored")}, "'request.reason'"),
    ({"request": request(), "task_token": "t"}, "'execution_id': Field required"),
    (payload(key=""), "'request.key': must not be empty or blank"),
])
def test_bad_requests_are_refused_naming_the_problem(dynamodb, lambda_context, event, fragment):
    with pytest.raises(InvalidReviewRequestError, match="invalid review request") as raised:
        handler(event, lambda_context)
    assert fragment in str(raised.value)


def test_one_review_items_opened_metric_per_item_by_reason(dynamodb, lambda_context, emf):
    invoke(handler, payload("processing_failed"), lambda_context)
    (record,) = emf_records_with(emf(), "ReviewItemsOpened")
    assert [sorted(dims) for dims in emf_dimension_sets(record)] == [["ReviewReason", "service"]]
    assert record["ReviewReason"] == "processing_failed" and emf_values(record, "ReviewItemsOpened") == [1.0]
