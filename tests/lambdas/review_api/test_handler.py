"""The review API handler (payload format 2.0) against moto DynamoDB and S3, with the Step Functions
client stubbed: who may call it, the listing, decisions and every refusal, the labelled examples,
the metrics. (Decisions resuming real executions: tests/workflow/test_review_callback.py.)"""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest
from botocore.stub import Stubber

from lambdas.review_api import handler as review_api
from lambdas.review_api.images import install_image_url_signer, reset_image_url_signer
from lambdas.shared import aws_clients
from lambdas.shared.review_store import ReviewStore
from scones_contracts.labels import fragment_row
from tests.lambdas.lambda_helpers import DATA_BUCKET, emf_records_with, emf_values
from tests.lambdas.review_fixtures import TABLE, dynamodb  # noqa: F401
from tests.workflow.workflow_support import BICYCLE_PNG

BUCKET = DATA_BUCKET  # the templates' data bucket: the function's role names it
API_ENVIRONMENT = {"REVIEWER_GROUP": "reviewers", "LABELS_PREFIX": "labels/", "IMAGE_URL_EXPIRY_SECONDS": "300",
                   "REVIEW_LIST_LIMIT": "50", "CONSOLE_AUTH_DOMAIN": "", "CONSOLE_CLIENT_ID": "",
                   "CONSOLE_IMAGE_ORIGIN": ""}
REVIEWER = {"sub": "u-1", "username": "ann@example.com", "cognito:groups": "[reviewers admins]"}


def http_event(method: str, path: str, body=None, claims: dict | None = REVIEWER) -> dict:
    """An API Gateway HTTP API payload-format-2.0 event, as the JWT authorizer passes it on."""
    event = {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.example.com"},
        "requestContext": {"accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
                           "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1",
                                    "userAgent": "pytest"},
                           "requestId": "req-1", "routeKey": "$default", "stage": "$default",
                           "time": "30/Nov/2026:00:00:00 +0000", "timeEpoch": 0},
        "isBase64Encoded": False,
    }
    if claims is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


def call(event: dict, context) -> tuple[int, dict | str]:
    response = review_api.handler(event, context)
    body = response.get("body", "")
    try:
        return response["statusCode"], json.loads(body)
    except ValueError:
        return response["statusCode"], body


@pytest.fixture
def api(dynamodb, monkeypatch):  # noqa: F811
    for name, value in API_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    s3 = aws_clients.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    sfn = aws_clients.client("stepfunctions")
    stubber = Stubber(sfn)
    aws_clients.install("stepfunctions", sfn)
    with stubber:
        yield {"s3": s3, "dynamodb": dynamodb, "sfn": stubber, "store": ReviewStore(TABLE, dynamodb)}
    reset_image_url_signer()


def upload(api, key: str = "incoming/driver 7/bike.png", body: bytes = BICYCLE_PNG) -> str:
    return api["s3"].put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]


def open_review(api, review_id: str, *, reason="low_confidence", key="incoming/driver 7/bike.png", version=None,
                token: str | None = "token-1", created_at="2026-11-30T00:00:00.000Z", model_label="bicycle") -> dict:
    item = {"id": review_id, "execution_id": f"arn:exec:{review_id}", "reason": reason, "status": "pending",
            "created_at": created_at, "bucket": BUCKET, "key": key, "etag": "e", "content_type": "image/png",
            "resume": json.dumps({"model": {"label": model_label}, "quarantine": {}})}
    if version:
        item["version_id"] = version
    if model_label:
        item.update(model_label=model_label, confidence=0.62, probabilities={"bicycle": 0.62, "motorcycle": 0.38})
    if reason == "processing_failed":
        item.update(error="EndpointUnavailableError", cause="HTTP 500")
        for name in ("model_label", "confidence", "probabilities"):
            item.pop(name, None)
    if token:
        item["task_token"] = token
    api["store"].open(item)
    return item


def expect_resume(api, token: str = "token-1", **output) -> None:
    """The one SendTaskSuccess the decision must make: this token, an output holding `output`."""
    api["sfn"].add_response("send_task_success", {}, {"taskToken": token, "output": _JsonMatching(output)})


class _JsonMatching:
    """Matches a JSON text whose object contains `fields` (botocore Stubber compares with ==)."""

    def __init__(self, fields: dict) -> None:
        self.fields = fields

    def __eq__(self, other) -> bool:
        value = json.loads(other)
        return all(value.get(k) == v for k, v in self.fields.items())

    def __repr__(self) -> str:
        return f"JSON containing {self.fields}"


# ------------------------------------------------------------------------------------ identity
def test_no_identity_is_401_and_a_non_reviewer_is_403(api, lambda_context):
    assert call(http_event("GET", "/api/reviews", claims=None), lambda_context)[0] == 401
    status, body = call(http_event("GET", "/api/reviews", claims={"username": "bob", "cognito:groups": "[admins]"}),
                        lambda_context)
    assert status == 403 and "'reviewers'" in body["error"] and "bob" in body["error"]
    status, _ = call(http_event("POST", "/api/reviews/x/decision", {"label": "bicycle"},
                                claims={"username": "bob"}), lambda_context)
    assert status == 403


@pytest.mark.parametrize("groups", ["[reviewers]", "reviewers", ["admins", "reviewers"], "[admins reviewers]"])
def test_the_reviewers_group_in_every_form_the_claims_take(api, lambda_context, groups):
    status, _ = call(http_event("GET", "/api/reviews", claims={"username": "ann", "cognito:groups": groups}),
                     lambda_context)
    assert status == 200


# ------------------------------------------------------------------------------------ listing
def test_listing_is_pending_oldest_first_with_presigned_urls_and_never_the_token(api, lambda_context):
    version = upload(api)
    open_review(api, "b" * 32, created_at="2026-11-30T00:00:02.000Z", version=version)
    open_review(api, "a" * 32, created_at="2026-11-30T00:00:01.000Z", version=version, reason="processing_failed")
    open_review(api, "c" * 32, created_at="2026-11-30T00:00:00.500Z", version=version, reason="audit", token=None)
    api["store"].decide("b" * 32, label="bicycle", note="", reviewer="r", decided_at="2026-11-30T00:00:03.000Z")
    status, body = call(http_event("GET", "/api/reviews"), lambda_context)
    assert status == 200
    assert [r["id"] for r in body["reviews"]] == ["c" * 32, "a" * 32] and body["pending"] == 2
    for review in body["reviews"]:
        assert set(review) == {"id", "key", "reason", "model_label", "confidence", "probabilities", "created_at",
                               "image_url", "error"}
    failed = body["reviews"][1]
    assert failed["reason"] == "processing_failed" and failed["model_label"] is None and failed["error"]
    url = urlparse(body["reviews"][0]["image_url"])
    query = parse_qs(url.query)
    assert url.path.endswith("/incoming/driver%207/bike.png") and query["versionId"] == [version]
    assert query["response-content-type"] == ["image/png"] and query["X-Amz-Expires"] == ["300"]
    assert "X-Amz-Signature" in query
    assert "token" not in json.dumps(body)


def test_an_installed_signer_makes_the_image_urls(api, lambda_context):
    install_image_url_signer(lambda image: f"/local/images?key={image.key}&type={image.content_type}")
    open_review(api, "a" * 32)
    _, body = call(http_event("GET", "/api/reviews"), lambda_context)
    assert body["reviews"][0]["image_url"] == "/local/images?key=incoming/driver 7/bike.png&type=image/png"


# ----------------------------------------------------------------------------------- decisions
def test_a_decision_resumes_the_execution_and_becomes_a_labelled_example(api, lambda_context, emf):
    version = upload(api)
    open_review(api, "a" * 32, version=version)
    expect_resume(api, label="motorcycle", note="a moped", reviewer="ann@example.com", review_id="a" * 32,
                  resume={"model": {"label": "bicycle"}, "quarantine": {}})
    status, body = call(http_event("POST", f"/api/reviews/{'a' * 32}/decision",
                                   {"label": "motorcycle", "note": "a moped"}), lambda_context)
    assert status == 200, body
    assert body["status"] == "decided" and body["label"] == "motorcycle" and body["reviewer"] == "ann@example.com"
    assert body["resumed"] is True and body["labelled_example"] == f"labels/lists/{'a' * 32}.lst"
    item = api["store"].get("a" * 32)
    assert (item["status"], item["decided_label"], item["decided_note"], item["decided_by"]) == \
        ("decided", "motorcycle", "a moped", "ann@example.com")
    s3 = api["s3"]
    assert s3.get_object(Bucket=BUCKET, Key=f"labels/images/{'a' * 32}.png")["Body"].read() == BICYCLE_PNG
    row = s3.get_object(Bucket=BUCKET, Key=f"labels/lists/{'a' * 32}.lst")["Body"].read().decode()
    assert row == fragment_row("a" * 32, "motorcycle", f"images/{'a' * 32}.png")
    api["sfn"].assert_no_pending_responses()
    (record,) = emf_records_with(emf(), "ReviewsDecided")
    assert record["ReviewReason"] == "low_confidence"
    assert emf_values(record, "ReviewerAgreedWithModel") == [0.0]  # the model said bicycle
    assert emf_values(record, "ReviewDecisionSeconds")[0] > 0 and emf_values(record, "LabelledExamplesWritten") == [1.0]


def test_a_reject_resumes_but_writes_no_example(api, lambda_context):
    open_review(api, "a" * 32, version=upload(api))
    expect_resume(api, label="reject", note="a cat")
    status, body = call(http_event("POST", f"/api/reviews/{'a' * 32}/decision", {"label": "reject", "note": "a cat"}),
                        lambda_context)
    assert status == 200 and body["labelled_example"] is None
    assert "Contents" not in api["s3"].list_objects_v2(Bucket=BUCKET, Prefix="labels/")


def test_an_audit_decision_resumes_nothing_and_measures_the_automatic_routing(api, lambda_context, emf):
    open_review(api, "a" * 32, version=upload(api), reason="audit", token=None)
    status, body = call(http_event("POST", f"/api/reviews/{'a' * 32}/decision", {"label": "bicycle"}), lambda_context)
    assert status == 200 and body["resumed"] is False and body["labelled_example"]
    (record,) = emf_records_with(emf(), "ReviewsDecided")
    assert record["ReviewReason"] == "audit" and emf_values(record, "AuditModelCorrect") == [1.0]
    assert "ReviewerAgreedWithModel" not in record


@pytest.mark.parametrize("body, fragment", [
    ({"label": "scooter"}, 'label must be one of bicycle, motorcycle, reject; got "scooter"'),
    ({"note": "x"}, "label must be one of bicycle, motorcycle, reject; got null"),
    ("not json", "the body is not JSON"),
    ([1, 2], "the body must be a JSON object"),
    ({"label": "bicycle", "note": "x" * 1001}, "note must be at most 1000 characters"),
    ({"label": "bicycle", "note": 7}, "note must be text"),
    ({"label": "bicycle", "colour": "red"}, "unknown field(s) ['colour']"),
])
def test_a_bad_decision_is_400_naming_the_allowed_values(api, lambda_context, body, fragment):
    open_review(api, "a" * 32)
    status, answer = call(http_event("POST", f"/api/reviews/{'a' * 32}/decision", body), lambda_context)
    assert status == 400 and fragment in answer["error"], answer
    if "label must be" in fragment:
        assert answer["allowed_labels"] == ["bicycle", "motorcycle", "reject"]
    assert api["store"].get("a" * 32)["status"] == "pending"


def test_an_unknown_review_is_404_and_a_decided_one_409(api, lambda_context):
    status, body = call(http_event("POST", "/api/reviews/nope/decision", {"label": "bicycle"}), lambda_context)
    assert status == 404 and "nope" in body["error"]
    open_review(api, "a" * 32, token=None, reason="audit", version=upload(api))
    assert call(http_event("POST", f"/api/reviews/{'a' * 32}/decision", {"label": "bicycle"}), lambda_context)[0] == 200
    status, body = call(http_event("POST", f"/api/reviews/{'a' * 32}/decision", {"label": "motorcycle"}), lambda_context)
    assert status == 409 and body["status"] == "decided" and "already decided" in body["error"]


def test_a_review_the_workflow_stopped_waiting_for_is_409_and_expired(api, lambda_context):
    open_review(api, "a" * 32, version=upload(api))
    api["sfn"].add_client_error("send_task_success", service_error_code="TaskTimedOut", http_status_code=400)
    status, body = call(http_event("POST", f"/api/reviews/{'a' * 32}/decision", {"label": "bicycle"}), lambda_context)
    assert status == 409 and body["status"] == "expired" and "expired before the decision" in body["error"]
    item = api["store"].get("a" * 32)
    assert item["status"] == "expired" and "decided_label" not in item and "task_token" not in item
    assert "Contents" not in api["s3"].list_objects_v2(Bucket=BUCKET, Prefix="labels/")


def test_a_workflow_that_cannot_be_told_leaves_the_review_pending_503(api, lambda_context):
    open_review(api, "a" * 32, version=upload(api))
    api["sfn"].add_client_error("send_task_success", service_error_code="ThrottlingException", http_status_code=400)
    status, body = call(http_event("POST", f"/api/reviews/{'a' * 32}/decision", {"label": "bicycle"}), lambda_context)
    assert status == 503 and "try again" in body["error"]
    assert api["store"].get("a" * 32)["status"] == "pending" and api["store"].get("a" * 32)["task_token"] == "token-1"


def test_an_upload_that_is_gone_or_not_an_image_gets_no_example_but_the_decision_counts(api, lambda_context, iam):
    open_review(api, "a" * 32, key="incoming/gone.png", token=None, reason="audit")
    status, body = call(http_event("POST", f"/api/reviews/{'a' * 32}/decision", {"label": "bicycle"}), lambda_context)
    assert status == 200 and body["labelled_example"] is None
    # The function may not list the bucket, so S3 answers the missing upload with 403 (as in AWS).
    (gone,) = iam.take_denials()
    assert gone.call.operation == "GetObject" and {r.action for r in gone.denied} == {"s3:ListBucket"}
    open_review(api, "b" * 32, key="incoming/text.png", version=upload(api, "incoming/text.png", b"<html>"),
                token=None, reason="audit")
    status, body = call(http_event("POST", f"/api/reviews/{'b' * 32}/decision", {"label": "bicycle"}), lambda_context)
    assert status == 200 and body["labelled_example"] is None


# ------------------------------------------------------------------------------------ routes
def test_the_console_is_served_without_identity_and_unknown_routes_are_404(api, lambda_context):
    status, page = call(http_event("GET", "/", claims=None), lambda_context)
    assert status == 200 and "<html" in page.lower()
    status, body = call(http_event("GET", "/api/nothing"), lambda_context)
    assert status == 404 and "no route" in body["error"]
