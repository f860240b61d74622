"""Workflow stack: Lambdas, state machine, trigger — snapshot and assertions."""
import json

import pytest
from aws_cdk.assertions import Match

from tests.conftest import mask_asset_hashes
from tests.stacks.template_helpers import (cdk_template, flatten_join, iam_statements, state_machine_definition,
                                           template_of)

# Actions AWS only grants on Resource "*" (no resource-level permissions exist for them).
STAR_ONLY_ACTIONS = {
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
}


@pytest.fixture(scope="module")
def raw(assembly):
    return template_of(assembly, "Workflow")[1]


@pytest.fixture(scope="module")
def template(assembly):
    return cdk_template(assembly, "Workflow")


@pytest.fixture(scope="module")
def definition(raw):
    return state_machine_definition(raw)


def test_snapshot(raw, snapshot):
    assert mask_asset_hashes(raw) == snapshot


def test_three_functions_arm64_python312_traced_with_own_roles(template, raw):
    functions = {k: r for k, r in raw["Resources"].items()
                 if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"].endswith(".handler.handler")}
    assert sorted(r["Properties"]["Handler"] for r in functions.values()) == [
        "lambdas.check_confidence.handler.handler", "lambdas.classify.handler.handler",
        "lambdas.serialize.handler.handler"]
    roles = set()
    for resource in functions.values():
        props = resource["Properties"]
        assert props["Architectures"] == ["arm64"]
        assert props["Runtime"] == "python3.12"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert "LoggingConfig" in props and "LogGroup" in props["LoggingConfig"]
        assert any("AWSLambdaPowertoolsPythonV3-python312-arm64" in json.dumps(layer) for layer in props["Layers"])
        roles.add(json.dumps(props["Role"]))
    assert len(roles) == 3, "each function has its own role"


def test_functions_roles_have_no_managed_policies(raw):
    for resource in raw["Resources"].values():
        if resource["Type"] == "AWS::IAM::Role" and "lambda.amazonaws.com" in json.dumps(resource):
            assert "ManagedPolicyArns" not in resource["Properties"]


def test_log_groups_have_retention(template):
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert len(groups) == 4
    assert all(g["Properties"]["RetentionInDays"] == 30 for g in groups.values())


def test_classify_may_only_invoke_its_endpoint(raw):
    invoke = [s for _, s in iam_statements(raw) if s.get("Action") == "sagemaker:InvokeEndpoint"]
    assert len(invoke) == 1
    # The model stack's endpoint (CfnEndpoint's Ref is its ARN), wired through, never hand-typed.
    assert invoke[0]["Resource"]["Fn::ImportValue"].startswith("SconesModel:ExportsOutputRefEndpoint")


def test_no_star_resource_where_an_arn_exists(raw):
    for logical_id, statement in iam_statements(raw):
        if statement.get("Resource") == "*":
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert set(actions) <= STAR_ONLY_ACTIONS, f"{logical_id} grants {actions} on '*'"


def test_serialize_reads_only_incoming(raw):
    statements = [s for lid, s in iam_statements(raw) if lid.startswith("SerializeImageRole")]
    s3 = [s for s in statements if "s3:" in json.dumps(s["Action"])]
    assert {json.dumps(s["Action"]) for s in s3} == {json.dumps(["s3:GetObject", "s3:GetObjectVersion"]),
                                                     json.dumps("s3:ListBucket")}
    get = next(s for s in s3 if s["Action"] != "s3:ListBucket")
    assert flatten_join(get["Resource"]).endswith("-<Ref:AWS::Region>/incoming/*")


def test_every_task_has_retry_and_catch(definition):
    tasks = {name: s for name, s in definition["States"].items() if s["Type"] == "Task"}
    assert set(tasks) == {"Serialize image", "Classify vehicle", "Check confidence", "Publish routing event",
                          "Route to review", "Quarantine image", "Record quarantine reason",
                          "Report failure to review"}
    for name, state in tasks.items():
        assert state.get("Retry"), f"{name} has no Retry"
        assert state.get("Catch"), f"{name} has no Catch"
        for retry in state["Retry"]:
            assert retry["BackoffRate"] >= 2 and retry["JitterStrategy"] == "FULL"


def test_endpoint_throttling_and_5xx_are_retried_with_backoff(definition):
    retries = definition["States"]["Classify vehicle"]["Retry"]
    endpoint = next(r for r in retries if "EndpointThrottledError" in r["ErrorEquals"])
    assert set(endpoint["ErrorEquals"]) == {"EndpointThrottledError", "EndpointUnavailableError"}
    assert endpoint["MaxAttempts"] == 3 and endpoint["IntervalSeconds"] == 2


def test_outcomes_are_typed_tasks(definition):
    states = definition["States"]
    assert states["Publish routing event"]["Resource"].endswith(":states:::events:putEvents")
    assert states["Route to review"]["Resource"].endswith(":states:::sqs:sendMessage")
    assert states["Quarantine image"]["Resource"].endswith(":states:::aws-sdk:s3:copyObject")
    assert states["Processing failed"] == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}
    assert states["Valid image?"]["Choices"][0] == {"Variable": "$.image.valid", "BooleanEquals": True,
                                                    "Next": "Classify vehicle"}
    assert states["Confident enough?"]["Choices"][0]["Variable"] == "$.decision.confident"


def test_routing_event_carries_business_fields(definition):
    entry = definition["States"]["Publish routing event"]["Parameters"]["Entries"][0]
    assert entry["DetailType"] == "Vehicle Classified"
    assert set(entry["Detail"]) >= {"key.$", "label.$", "confidence.$", "model_version.$", "idempotency_key.$"}


def test_state_machine_standard_logged_and_traced(template):
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {
        "StateMachineType": "STANDARD",
        "TracingConfiguration": {"Enabled": True},
        "LoggingConfiguration": {"Level": "ALL", "IncludeExecutionData": True, "Destinations": Match.any_value()},
    })


def test_trigger_rule_matches_uploads_under_incoming(template, raw):
    template.has_resource_properties("AWS::Events::Rule", {
        "EventPattern": {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": [Match.any_value()]}, "object": {"key": [{"prefix": "incoming/"}]}},
        },
        "Targets": [Match.object_like({
            "DeadLetterConfig": {"Arn": Match.any_value()},
            "RetryPolicy": {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 21600},
            "InputTransformer": Match.object_like({"InputPathsMap": Match.object_like({
                "detail-object-key": "$.detail.object.key"})}),
        })],
    })


def test_review_queue_encrypted_with_dlq(template):
    template.has_resource_properties("AWS::SQS::Queue", {
        "SqsManagedSseEnabled": True,
        "RedrivePolicy": {"deadLetterTargetArn": Match.any_value(), "maxReceiveCount": 5},
    })
    for policy in template.find_resources("AWS::SQS::QueuePolicy").values():
        assert "aws:SecureTransport" in json.dumps(policy)
