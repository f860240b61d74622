"""Human review through the SYNTHESIZED state machine's callback, in moto: the execution waits on its
task token; a decision made through the REAL review API function (invoked as API Gateway invokes it,
scones.local.reviewing) resumes it (routed / rejected); nobody deciding expires it; failures and audit
samples become review items. Assertions on events, objects, table items and execution history."""
from __future__ import annotations

import json
import threading
import time

import pytest

from scones_contracts.quarantine import quarantine_location
from scones.local.reviewing import decide, pending_reviews
from tests.workflow.workflow_support import (BICYCLE_PNG, audited_key, events, finish, labelled_example, review_items,
                                             settle, unaudited_key, upload)

RATE = 0.02  # the default audit_sample_rate


def waiting_item(aws, arn: str) -> dict:
    run = settle(aws, arn)
    assert run["status"] == "RUNNING", "the execution waits for a reviewer"
    assert run["entered"][-1] == "Wait for review"
    assert [e["type"] for e in run["history"]][-1] == "TaskSubmitted"
    (item,) = [i for i in review_items(aws) if i["execution_id"] == arn]
    return item


def test_low_confidence_waits_for_a_reviewer_whose_decision_routes_the_driver(aws, endpoint, iam):
    endpoint.answer([0.62, 0.38])
    before = time.time()
    arn = upload(aws, "incoming/driver 7/unsure.png", BICYCLE_PNG)
    item = waiting_item(aws, arn)
    assert item["reason"] == "low_confidence" and item["status"] == "pending"
    assert item["bucket"] == aws.deployed.bucket and item["key"] == "incoming/driver 7/unsure.png"
    assert item["version_id"] and item["etag"] and item["content_type"] == "image/png"
    assert item["model_label"] == "bicycle" and item["confidence"] == pytest.approx(0.62)
    assert item["probabilities"] == {"bicycle": pytest.approx(0.62), "motorcycle": pytest.approx(0.38)}
    assert item["threshold"] == pytest.approx(0.93) and item["model_version"]
    assert item["task_token"]
    assert item["expires_at"] >= int(before) + 24 * 3600 + 90 * 86400  # review timeout + retention (TTL)
    assert events(aws) == [], "nobody is routed before the reviewer decides"
    listing = pending_reviews(aws)
    assert [r["id"] for r in listing["reviews"]] == [item["id"]] and listing["pending"] == 1
    assert listing["reviews"][0]["model_label"] == "bicycle" and "token" not in json.dumps(listing)
    assert "X-Amz-Signature=" in listing["reviews"][0]["image_url"]

    answer = decide(aws, item["id"], "motorcycle", note="a moped, clearly")
    assert answer.status == 200 and answer.json()["resumed"] is True
    run = finish(aws, arn)
    assert run["status"] == "SUCCEEDED"
    output = json.loads(run["output"])
    assert output["outcome"] == "routed" and output["decided_by"] == "reviewer"
    assert output["label"] == "motorcycle" and output["model_label"] == "bicycle"
    assert output["model_confidence"] == pytest.approx(0.62) and output["reviewer"] == "local-reviewer"
    (event,) = events(aws)
    assert event["detail-type"] == "Vehicle Classified"
    detail = event["detail"]
    assert detail["decided_by"] == "reviewer" and detail["label"] == "motorcycle"
    assert detail["model_label"] == "bicycle" and detail["model_confidence"] == pytest.approx(0.62)
    assert detail["confidence"] == pytest.approx(0.62) and detail["threshold"] == pytest.approx(0.93)
    assert detail["key"] == "incoming/driver 7/unsure.png" and detail["execution_id"] == arn
    assert run["entered"][-4:] == ["Wait for review", "Reviewer's decision?", "Publish reviewer routing event",
                                   "Routed by reviewer"]
    (decided,) = review_items(aws)
    assert decided["status"] == "decided" and decided["decided_label"] == "motorcycle"
    assert decided["decided_note"] == "a moped, clearly" and decided["decided_by"] == "local-reviewer"
    assert labelled_example(aws, item["id"]) == ("motorcycle", BICYCLE_PNG)
    assert pending_reviews(aws)["pending"] == 0
    # The review API ran as its own role, least privilege (nothing was denied: the fixture says so):
    # SendTaskSuccess on the image-routing state machine, its table, the upload and the labels prefix.
    api_calls = {f"{c.call.service}:{c.call.operation}": c for c in iam.checked
                 if c.principal.name == "lambdas.review_api.handler.handler"}
    assert set(api_calls) == {"dynamodb:Query", "dynamodb:UpdateItem", "stepfunctions:SendTaskSuccess",
                              "s3:GetObject", "s3:CopyObject", "s3:PutObject"}
    (resumed,) = api_calls["stepfunctions:SendTaskSuccess"].needed
    assert resumed.action == "states:SendTaskSuccess" and resumed.resource == aws.deployed.state_machine_arn


def test_reject_quarantines_the_image_with_the_note_and_tells_the_driver_app(aws, endpoint):
    endpoint.answer([0.55, 0.45])
    key = "incoming/driver 9/not a bike?.png"
    arn = upload(aws, key, BICYCLE_PNG)
    item = waiting_item(aws, arn)
    assert decide(aws, item["id"], "reject", note="a photo of a cat").status == 200
    run = finish(aws, arn)
    assert run["status"] == "SUCCEEDED"
    output = json.loads(run["output"])
    assert output["outcome"] == "quarantined" and output["reason_code"] == "rejected_by_reviewer"
    assert output["reason"] == "a photo of a cat" and output["decided_by"] == "reviewer"
    bucket = aws.deployed.bucket
    where = quarantine_location(key, version_id=item["version_id"], etag=item["etag"], incoming_prefix="incoming/",
                                quarantine_prefix="quarantine/")
    assert where.image_key.startswith("quarantine/driver 9/not a bike?.png/")
    assert (output["quarantine_key"], output["reason_key"]) == (where.image_key, where.reason_key)
    copy = aws.s3.get_object(Bucket=bucket, Key=where.image_key)
    assert copy["Body"].read() == BICYCLE_PNG
    assert copy["Metadata"]["quarantine-reason-code"] == "rejected_by_reviewer"
    record = json.loads(aws.s3.get_object(Bucket=bucket, Key=where.reason_key)["Body"].read())
    assert record["reason_code"] == "rejected_by_reviewer" and record["reason"] == "a photo of a cat"
    assert record["key"] == key and record["review_id"] == item["id"] and record["reviewer"] == "local-reviewer"
    assert aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read() == BICYCLE_PNG  # the upload is kept
    assert labelled_example(aws, item["id"]) is None  # a reject is not a training example
    (event,) = events(aws)
    assert event["detail-type"] == "Photo Rejected"
    assert event["detail"]["note"] == "a photo of a cat" and event["detail"]["reason_code"] == "rejected_by_reviewer"
    assert event["detail"]["quarantine_key"] == where.image_key


def test_no_decision_within_the_review_timeout_expires_the_review_and_keeps_the_image(aws_short_review, endpoint):
    aws = aws_short_review
    endpoint.answer([0.6, 0.4])
    arn = upload(aws, "incoming/nobody looks.png", BICYCLE_PNG)
    run = finish(aws, arn, timeout=60)
    assert run["status"] == "SUCCEEDED"
    output = json.loads(run["output"])
    assert output["outcome"] == "review_expired" and output["reason"] == "low_confidence"
    assert "TaskTimedOut" in [e["type"] for e in run["history"]]
    (item,) = review_items(aws)
    assert item["status"] == "expired" and "task_token" not in item and output["review_id"] == item["id"]
    (event,) = events(aws)
    assert event["detail-type"] == "Review Expired"
    assert event["detail"]["review_id"] == item["id"] and event["detail"]["key"] == "incoming/nobody looks.png"
    assert aws.s3.head_object(Bucket=aws.deployed.bucket, Key="incoming/nobody looks.png")
    late = decide(aws, item["id"], "bicycle")  # too late: the review is no longer pending
    assert late.status == 409 and late.json()["status"] == "expired"


def test_two_reviewers_deciding_at_once_resume_the_workflow_once(aws, endpoint):
    endpoint.answer([0.7, 0.3])
    arn = upload(aws, "incoming/race.png", BICYCLE_PNG)
    item = waiting_item(aws, arn)
    results, barrier = {}, threading.Barrier(2)

    def reviewer(label: str) -> None:
        barrier.wait()
        results[label] = decide(aws, item["id"], label, reviewer=f"reviewer-{label}")

    threads = [threading.Thread(target=reviewer, args=(label,)) for label in ("bicycle", "motorcycle")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status for r in results.values()) == [200, 409]
    winner = next(label for label, r in results.items() if r.status == 200)
    loser = next(r for r in results.values() if r.status == 409)
    assert loser.json()["status"] == "decided" and "already decided" in loser.json()["error"]
    run = finish(aws, arn)
    assert json.loads(run["output"])["label"] == winner
    assert [e["detail"]["label"] for e in events(aws)] == [winner]
    resumed = [e for e in run["history"] if e["type"] == "TaskSucceeded"
               and e["taskSucceededEventDetails"]["resource"] == "invoke.waitForTaskToken"]
    assert len(resumed) == 1, "the wait for the reviewer ended once"


def test_an_audit_sample_is_routed_and_also_gets_an_audit_item_without_a_token(aws, endpoint):
    endpoint.answer([0.99, 0.01])
    key = audited_key(BICYCLE_PNG, RATE)
    run = finish(aws, upload(aws, key, BICYCLE_PNG))
    assert run["status"] == "SUCCEEDED"
    output = json.loads(run["output"])
    assert output["outcome"] == "routed" and output["decided_by"] == "model" and output["audited"] is True
    assert "Open audit review" in run["entered"]
    (event,) = events(aws)
    assert event["detail"]["decided_by"] == "model" and event["detail"]["key"] == key
    (item,) = review_items(aws)
    assert item["reason"] == "audit" and item["status"] == "pending" and "task_token" not in item
    assert item["model_label"] == "bicycle" and item["key"] == key and item["execution_id"] == run["executionArn"]
    answer = decide(aws, item["id"], "bicycle")  # nobody waits: only the table and the labels change
    assert answer.status == 200 and answer.json()["resumed"] is False and events(aws) == []
    assert review_items(aws)[0]["status"] == "decided"
    assert labelled_example(aws, item["id"]) == ("bicycle", BICYCLE_PNG)


def test_unaudited_keys_exist_and_the_sample_follows_the_rate():
    keys = [unaudited_key(BICYCLE_PNG, RATE, f"incoming/k{i}.png") for i in range(3)]
    assert len(set(keys)) == 3


def test_a_processing_failure_becomes_a_review_item_a_reviewer_can_route(aws, endpoint):
    for _ in range(4):  # the first attempt plus endpoint_max_attempts - 1 retries
        endpoint.fail("ModelError", 424, OriginalStatusCode=500, OriginalMessage="boom")
    arn = upload(aws, "incoming/doomed.png", BICYCLE_PNG)
    item = waiting_item(aws, arn)
    assert item["reason"] == "processing_failed" and item["error"] == "EndpointUnavailableError"
    assert "HTTP 500" in item["cause"] and item["task_token"] and "model_label" not in item
    assert aws.s3.head_object(Bucket=aws.deployed.bucket, Key="incoming/doomed.png")["ContentLength"] == len(BICYCLE_PNG)
    run = settle(aws, arn)
    assert sum(e["type"] == "LambdaFunctionFailed" for e in run["history"]) == 4
    assert "Describe failure" in run["entered"]

    listed = pending_reviews(aws)["reviews"][0]
    assert listed["reason"] == "processing_failed" and listed["error"] == "EndpointUnavailableError"
    assert listed["model_label"] is None
    assert decide(aws, item["id"], "bicycle").status == 200
    run = finish(aws, arn)
    output = json.loads(run["output"])
    assert run["status"] == "SUCCEEDED" and output["outcome"] == "routed" and output["decided_by"] == "reviewer"
    (event,) = events(aws)
    assert event["detail"]["label"] == "bicycle" and event["detail"]["model_label"] is None
    assert event["detail"]["model_confidence"] is None


def test_a_missing_object_becomes_a_review_item_naming_the_error(aws, endpoint):
    arn = aws.start_execution({"bucket": aws.deployed.bucket, "key": "incoming/gone.png", "etag": "x",
                               "version_id": None, "size": 1})
    item = waiting_item(aws, arn)
    assert item["reason"] == "processing_failed" and item["error"] == "ImageNotFoundError"
    assert item["key"] == "incoming/gone.png" and item["content_type"] == "application/octet-stream"
