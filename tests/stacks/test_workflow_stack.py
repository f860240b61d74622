"""Workflow stack: the snapshot, the endpoint and bucket grants, the state machine resource, the
upload trigger; the review queue is gone."""
import json

import pytest
from aws_cdk.assertions import Match

from tests.conftest import mask_asset_hashes
from tests.stacks.template_helpers import cdk_template, flatten_join, iam_statements, template_of


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


def test_snapshot(raw, snapshot):
    assert mask_asset_hashes(raw) == snapshot


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


def test_serialize_reads_only_incoming_and_backlog(raw):
    """Uploads (the upload workflow) and the backlog (the batch workflow); nothing else of the bucket."""
    statements = [s for lid, s in iam_statements(raw) if lid.startswith("SerializeImageRole")]
    s3 = [s for s in statements if "s3:" in json.dumps(s["Action"])]
    gets = [s for s in s3 if s["Action"] != "s3:ListBucket"]
    assert {json.dumps(s["Action"]) for s in gets} == {json.dumps(["s3:GetObject", "s3:GetObjectVersion"])}
    resources = [r for s in gets for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    assert sorted(flatten_join(r).rsplit("-<Ref:AWS::Region>", 1)[1] for r in resources) == ["/backlog/*", "/incoming/*"]
    listings = [s for s in s3 if s["Action"] == "s3:ListBucket"]
    assert sorted(p for s in listings for p in s["Condition"]["StringLike"]["s3:prefix"]) == ["backlog/*", "incoming/*"]


def test_the_delivery_claims_table_is_on_demand_encrypted_recoverable_and_expiring(template):
    tables = {k: r for k, r in template.find_resources("AWS::DynamoDB::Table").items() if k.startswith("DeliveryClaims")}
    (_, table), = tables.items()
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "object_version", "KeyType": "HASH"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"] == {"SSEEnabled": True}  # the AWS managed key (aws/dynamodb)
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_the_state_machine_may_only_put_claims(raw):
    table_id, = (k for k, r in raw["Resources"].items()
                 if r["Type"] == "AWS::DynamoDB::Table" and k.startswith("DeliveryClaims"))
    dynamodb = [(lid, s) for lid, s in iam_statements(raw) if "dynamodb:" in json.dumps(s["Action"])
                and lid.startswith("ImageRoutingStateMachineRole")]
    assert [(lid.startswith("ImageRoutingStateMachineRole"), s["Action"], flatten_join(s["Resource"]))
            for lid, s in dynamodb] == [
        (True, "dynamodb:PutItem",
         f"arn:<Ref:AWS::Partition>:dynamodb:<Ref:AWS::Region>:<Ref:AWS::AccountId>:table/<Ref:{table_id}>")]


def test_state_machine_standard_logged_and_traced(template):
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {
        "StateMachineName": "scones-image-routing",
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


def test_the_review_queue_is_gone(template):
    """Reviews live in the review table now; the only queue left is the upload rule's dead-letter queue."""
    queues = template.find_resources("AWS::SQS::Queue")
    assert len(queues) == 1 and next(iter(queues)).startswith("TriggerDeadLetterQueue")
