"""The SYNTHESIZED state machine, executed by moto's Step Functions interpreter: the paths without a
human (routed by the model, quarantined by serialize, retried). The review paths: test_review_callback.py.

Assertions are on outputs, events, objects, table items and execution history.

IAM is enforced (tests/workflow/conftest.py, scones.local.iam_enforcement): every call the state
machine's integrations and the handlers make is checked against the synthesized policies of the role
it runs as, and a test in which any call was denied fails.
"""
from __future__ import annotations

import json

import pytest

from scones.local.aws import LocalAws
from scones_contracts.quarantine import quarantine_location
from tests.workflow.workflow_support import BICYCLE_PNG, events, finish, review_items, unaudited_key, upload_and_run

RATE = 0.02  # the default audit_sample_rate the app is synthesized with


def test_confident_bicycle_is_routed_with_an_event_decided_by_the_model(aws, endpoint, iam):
    endpoint.answer([0.991, 0.009])
    key = unaudited_key(BICYCLE_PNG, RATE, "incoming/driver 42/bike.png")
    run = upload_and_run(aws, key, BICYCLE_PNG)
    assert run["status"] == "SUCCEEDED"
    output = json.loads(run["output"])
    assert output["outcome"] == "routed" and output["label"] == "bicycle" and output["decided_by"] == "model"
    assert output["confidence"] == pytest.approx(0.991) and output["audited"] is False
    found = events(aws)
    assert len(found) == 1
    event = found[0]
    assert event["detail-type"] == "Vehicle Classified" and event["source"] == "scones.vehicle-classifier"
    detail = event["detail"]
    assert detail["key"] == key and detail["label"] == "bicycle" and detail["threshold"] == pytest.approx(0.93)
    assert detail["decided_by"] == "model" and detail["model_label"] == "bicycle"
    assert detail["model_confidence"] == pytest.approx(0.991)
    assert detail["idempotency_key"].startswith(f"{key}#")
    assert review_items(aws) == []  # no review, no audit
    assert run["entered"] == ["Claim delivery", "Serialize image", "Valid image?", "Classify vehicle",
                              "Check confidence", "Keep decision", "Confident enough?", "Publish routing event",
                              "Audit sample?", "Routed"]
    # Every call was checked as the role AWS would run it as (none was denied: the fixture says so).
    assert {(c.principal.kind, f"{c.call.service}:{c.call.operation}") for c in iam.checked} == {
        ("state machine", "dynamodb:PutItem"), ("state machine", "lambda:Invoke"),
        ("function", "s3:HeadObject"), ("function", "s3:GetObject"),
        ("function", "sagemaker-runtime:InvokeEndpoint"), ("state machine", "events:PutEvents")}


def test_invalid_image_is_quarantined_with_its_reason_and_kept(aws, endpoint):
    truncated = BICYCLE_PNG[: len(BICYCLE_PNG) // 2]
    run = upload_and_run(aws, "incoming/ünïcode broken.png", truncated)
    assert run["status"] == "SUCCEEDED"
    output = json.loads(run["output"])
    assert output["outcome"] == "quarantined" and output["reason_code"] == "truncated_image"
    bucket = aws.deployed.bucket
    upload = aws.s3.head_object(Bucket=bucket, Key="incoming/ünïcode broken.png")
    where = quarantine_location("incoming/ünïcode broken.png", version_id=upload["VersionId"],
                                etag=upload["ETag"].strip('"'), incoming_prefix="incoming/",
                                quarantine_prefix="quarantine/")
    assert (output["quarantine_key"], output["reason_key"]) == (where.image_key, where.reason_key)
    assert where.image_key.startswith("quarantine/ünïcode broken.png/")
    copy = aws.s3.get_object(Bucket=bucket, Key=where.image_key)
    assert copy["Body"].read() == truncated
    assert copy["Metadata"]["quarantine-reason-code"] == "truncated_image"
    record = json.loads(aws.s3.get_object(Bucket=bucket, Key=where.reason_key)["Body"].read())
    assert record["reason_code"] == "truncated_image" and "truncated" in record["reason"]
    assert (record["key"], record["version_id"]) == ("incoming/ünïcode broken.png", upload["VersionId"])
    assert aws.s3.get_object(Bucket=bucket, Key="incoming/ünïcode broken.png")["Body"].read() == truncated
    assert "Classify vehicle" not in run["entered"]
    assert endpoint.calls == 0  # the endpoint was never called
    assert review_items(aws) == []


def test_a_tagged_invalid_upload_is_quarantined_and_its_tags_stay_with_the_upload(aws, endpoint, iam):
    """CopyObject copies the source's tags unless told otherwise, which needs s3:GetObjectVersionTagging
    on the upload and s3:PutObjectTagging on the copy. The quarantine copy replaces them (with none):
    uploader-set tags must not steer quarantine evidence, and the upload keeps them."""
    truncated = BICYCLE_PNG[: len(BICYCLE_PNG) // 3]
    run = upload_and_run(aws, "incoming/tagged.png", truncated, tagging="driver=42&app=courier")
    assert run["status"] == "SUCCEEDED", run.get("cause")
    output = json.loads(run["output"])
    assert output["outcome"] == "quarantined"
    bucket = aws.deployed.bucket
    assert aws.s3.get_object(Bucket=bucket, Key=output["quarantine_key"])["Body"].read() == truncated
    assert aws.s3.get_object_tagging(Bucket=bucket, Key=output["quarantine_key"])["TagSet"] == []
    assert {t["Key"]: t["Value"] for t in aws.s3.get_object_tagging(Bucket=bucket, Key="incoming/tagged.png")[
        "TagSet"]} == {"driver": "42", "app": "courier"}
    copy, = (c for c in iam.checked if c.call.operation == "CopyObject")
    assert copy.principal.kind == "state machine" and not copy.denied
    assert {r.action for r in copy.needed} == {"s3:PutObject", "s3:GetObjectVersion"}


def test_copying_the_tags_would_be_denied_by_the_synthesized_role(aws, endpoint, iam):
    """Negative control: the same definition without TaggingDirective REPLACE (what the template had)
    fails to quarantine a tagged upload, because the role may not tag objects under quarantine/."""
    definition = json.loads(aws.sfn.describe_state_machine(stateMachineArn=aws.deployed.state_machine_arn)["definition"])
    del definition["States"]["Quarantine image"]["Parameters"]["TaggingDirective"]
    aws.sfn.update_state_machine(stateMachineArn=aws.deployed.state_machine_arn, definition=json.dumps(definition))
    run = upload_and_run(aws, "incoming/tagged.png", BICYCLE_PNG[:100], tagging="driver=42")
    assert run["status"] == "RUNNING" and run["entered"][-1] == "Wait for review"
    denied = {(d.principal.kind, r.action) for d in iam.take_denials() for r in d.denied}
    assert ("state machine", "s3:PutObjectTagging") in denied
    (item,) = review_items(aws)
    assert item["reason"] == "processing_failed" and "not authorized to perform: s3:" in item["cause"]


@pytest.mark.parametrize("role_of, action, body, denied_call", [
    # The state machine's own grants: the claim, the quarantine copy.
    (lambda roles: roles.state_machines["scones-image-routing"], "dynamodb:PutItem", BICYCLE_PNG, "dynamodb:PutItem"),
    (lambda roles: roles.state_machines["scones-image-routing"], "s3:PutObject", BICYCLE_PNG[:100], "s3:CopyObject"),
    # A function's grants: serialize reads the upload version it was given.
    (lambda roles: roles.role_of_function("lambdas.serialize.handler.handler"), "s3:GetObjectVersion", BICYCLE_PNG,
     "s3:HeadObject"),
])
def test_removing_a_needed_grant_fails_the_step_and_the_image_waits_for_review(aws, endpoint, iam, role_of, action, body,
                                                                              denied_call):
    """Negative controls: the same runs as above, with one grant taken out of the synthesized policy.
    The denied step fails; the image then waits for a reviewer (a processing failure)."""
    endpoint.answer([0.99, 0.01])
    role = role_of(iam.roles)
    iam.roles.revoke(role, action)
    run = upload_and_run(aws, "incoming/revoked.png", body)
    assert run["status"] == "RUNNING" and run["entered"][-1] == "Wait for review"
    (item,) = review_items(aws)
    assert item["reason"] == "processing_failed"
    denials = iam.take_denials()
    assert denials and {f"{d.call.service}:{d.call.operation}" for d in denials} == {denied_call}
    assert all(d.principal.role == role and {r.action for r in d.denied} == {action} for d in denials)
    endpoint.pending.clear()  # an unused answer is not this test's point


def quarantined_objects(aws: LocalAws) -> dict[str, bytes]:
    listing = aws.s3.list_objects_v2(Bucket=aws.deployed.bucket, Prefix="quarantine/").get("Contents", [])
    return {o["Key"]: aws.s3.get_object(Bucket=aws.deployed.bucket, Key=o["Key"])["Body"].read() for o in listing}


def test_an_upload_named_like_a_reason_record_overwrites_nothing(aws, endpoint):
    """`X.reason.json`, `X`'s own folder path and a second version of `X`: four records, four images."""
    first = upload_and_run(aws, "incoming/x.png", b"not an image, version 1")
    first_out = json.loads(first["output"])
    folder = first_out["reason_key"][len("quarantine/"):-len("reason.json")]
    clashing = [upload_and_run(aws, key, b'{"reason_code": "forged"}')
                for key in ("incoming/x.png.reason.json", f"incoming/{folder}reason.json")]
    second = upload_and_run(aws, "incoming/x.png", b"not an image, version 2")

    outputs = [json.loads(run["output"]) for run in (first, *clashing, second)]
    assert [o["outcome"] for o in outputs] == ["quarantined"] * 4
    stored = quarantined_objects(aws)
    assert len(stored) == 8, sorted(stored)
    assert len({o["reason_key"] for o in outputs}) == 4
    for output, body in zip(outputs, [b"not an image, version 1", b'{"reason_code": "forged"}',
                                      b'{"reason_code": "forged"}', b"not an image, version 2"]):
        assert stored[output["quarantine_key"]] == body
        record = json.loads(stored[output["reason_key"]])
        assert (record["key"], record["reason_code"]) == (output["key"], output["reason_code"])
    assert json.loads(stored[first_out["reason_key"]])["reason"].startswith("data is not a recognised image")


def test_quarantine_keys_of_the_longest_upload_keys_stay_valid(aws, endpoint):
    """S3 allows 1024 bytes of key; moto is made to refuse longer ones as AWS does (moto_shims)."""
    ascii_key = "incoming/" + "d/" * 300 + "a" * (1024 - 9 - 600 - 4) + ".png"
    multibyte_key = "incoming/a" + "\U0001f6b2" * 252 + "é.png"  # 1024 bytes, the cut falls inside a character
    assert [len(k.encode()) for k in (ascii_key, multibyte_key)] == [1024, 1024]
    with pytest.raises(aws.s3.exceptions.ClientError, match="KeyTooLongError"):
        aws.s3.put_object(Bucket=aws.deployed.bucket, Key=multibyte_key + "x", Body=b"")

    for key in (ascii_key, multibyte_key):
        run = upload_and_run(aws, key, b"\x89PNG\r\n\x1a\n")
        assert run["status"] == "SUCCEEDED", run["history"][-1]
        output = json.loads(run["output"])
        assert output["outcome"] == "quarantined"
        for derived in (output["quarantine_key"], output["reason_key"]):
            assert len(derived.encode()) <= 1024 and derived.startswith("quarantine/" + key[9:40])
        assert json.loads(quarantined_objects(aws)[output["reason_key"]])["key"] == key


def test_endpoint_throttling_is_retried_then_routed(aws, endpoint):
    endpoint.fail("ThrottlingException", 400)
    endpoint.fail("ModelError", 424, OriginalStatusCode=503, OriginalMessage="worker died")
    endpoint.answer([0.02, 0.98])
    run = upload_and_run(aws, unaudited_key(BICYCLE_PNG, RATE, "incoming/moto.png"), BICYCLE_PNG)
    assert run["status"] == "SUCCEEDED"
    assert json.loads(run["output"])["label"] == "motorcycle"
    failures = [e["lambdaFunctionFailedEventDetails"]["error"] for e in run["history"]
                if e["type"] == "LambdaFunctionFailed"]
    assert failures == ["EndpointThrottledError", "EndpointUnavailableError"]


def test_redelivered_upload_event_is_claimed_once_and_routed_once(aws, endpoint, assembly):
    """EventBridge delivers at least once: two executions for one upload event (fresh names, as the
    rule's target starts them in AWS) route the image once; the other ends as `duplicate`."""
    endpoint.answer([0.99, 0.01])
    assert unaudited_key(BICYCLE_PNG, RATE, "incoming/twice.png") == "incoming/twice.png"
    aws.s3.put_object(Bucket=aws.deployed.bucket, Key="incoming/twice.png", Body=BICYCLE_PNG)
    (execution_input, first), (_, second) = aws.dispatch_uploads(deliveries=2)
    assert execution_input["version_id"] and execution_input["etag"]
    assert first != second
    runs = [finish(aws, first), finish(aws, second)]
    outputs = sorted((json.loads(run["output"]) for run in runs), key=lambda o: o["outcome"])
    assert [o["outcome"] for o in outputs] == ["duplicate", "routed"]
    duplicate = outputs[0]
    assert duplicate["key"] == "incoming/twice.png" and duplicate["version_id"] == execution_input["version_id"]
    assert [e["detail"]["key"] for e in events(aws)] == ["incoming/twice.png"]
    refused = next(run for run in runs if json.loads(run["output"])["outcome"] == "duplicate")
    history = aws.sfn.get_execution_history(executionArn=refused["executionArn"], maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered == ["Claim delivery", "Duplicate delivery"]  # nothing read, classified or routed

    claim, = aws.dynamodb.scan(TableName=claims_table(aws))["Items"]
    winner = next(run for run in runs if run is not refused)
    assert claim["object_version"]["S"] == f"incoming/twice.png#{execution_input['version_id']}"
    assert claim["execution_id"]["S"] == winner["executionArn"]
    ttl_hours = assembly.config.workflow.delivery_claim_ttl_hours
    assert int(claim["expires_at"]["N"]) == int(winner["startDate"].timestamp()) + ttl_hours * 3600


def test_a_new_version_of_the_same_key_is_a_new_claim(aws, endpoint):
    """The claim is per object version: uploading the key again is a new image, routed again."""
    endpoint.answer([0.99, 0.01])
    endpoint.answer([0.02, 0.98])
    first = upload_and_run(aws, "incoming/again.png", BICYCLE_PNG)
    second = upload_and_run(aws, "incoming/again.png", BICYCLE_PNG)
    assert [json.loads(r["output"])["outcome"] for r in (first, second)] == ["routed", "routed"]
    assert len(events(aws, "Vehicle Classified")) == 2
    assert len(aws.dynamodb.scan(TableName=claims_table(aws))["Items"]) == 2


def claims_table(aws: LocalAws) -> str:
    table, = (name for logical_id, name in aws.deployed.tables.items() if logical_id.startswith("DeliveryClaims"))
    return table
