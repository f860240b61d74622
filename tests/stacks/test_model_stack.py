"""Model stack: the snapshot, the wiring to the workflow stack, its outputs, and least privilege over
all its roles."""
from __future__ import annotations

import json

from tests.conftest import mask_asset_hashes
from tests.stacks.model_support import actions_of, built, config, raw, resources_of_type  # noqa: F401
from tests.stacks.template_helpers import iam_statements

# Actions AWS only grants on Resource "*" (no resource-level permissions exist for them).
STAR_ONLY_ACTIONS = {
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
    "ecr:GetAuthorizationToken", "cloudwatch:PutMetricData",
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    # Application Auto Scaling's Describe* take no resource (Service Authorization Reference).
    "application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies",
}


def test_snapshot(built, snapshot):
    # Asset hashes and the training job's content hash vary with code, not with infrastructure.
    masked = mask_asset_hashes(built.raw)
    assert built.model.training_job_name not in json.dumps(masked)
    assert "<code-hash>" in json.dumps(masked) and "<asset-hash>" in json.dumps(masked)
    assert masked == snapshot


def test_no_star_resource_where_an_arn_exists(raw):
    for logical_id, statement in iam_statements(raw):
        if statement["Effect"] == "Allow" and statement.get("Resource") == "*":
            allowed = STAR_ONLY_ACTIONS
            if logical_id.startswith("TrainingJobProviderwaiterstatemachineRole"):
                # CDK's Provider waiter grants AWS's documented Step Functions logging policy as one statement.
                allowed = STAR_ONLY_ACTIONS | {"logs:CreateLogStream", "logs:PutLogEvents"}
            assert set(actions_of(statement)) <= allowed, f"{logical_id} grants {statement['Action']} on '*'"
            if "cloudwatch:PutMetricData" in actions_of(statement):
                assert "cloudwatch:namespace" in json.dumps(statement["Condition"])


def test_no_managed_policies_on_our_roles(raw):
    for logical_id, role in resources_of_type(raw, "AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"], logical_id


def test_workflow_invokes_exactly_this_endpoint_and_reports_the_model_version(built, raw, config):
    exports = {o["Export"]["Name"]: o["Value"] for o in raw["Outputs"].values() if "Export" in o}
    endpoint_export = [name for name, value in exports.items() if value == {"Ref": "Endpoint"}]
    assert len(endpoint_export) == 1, "the endpoint ARN (CfnEndpoint's Ref) is exported to the workflow"
    invoke = [s for _, s in iam_statements(built.workflow) if "sagemaker:InvokeEndpoint" in actions_of(s)]
    assert len(invoke) == 1 and actions_of(invoke[0]) == ["sagemaker:InvokeEndpoint"]
    assert invoke[0]["Resource"] == {"Fn::ImportValue": endpoint_export[0]}
    classify = [r for r in built.workflow["Resources"].values()
                if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == "lambdas.classify.handler.handler"]
    env = classify[0]["Properties"]["Environment"]["Variables"]
    assert env["ENDPOINT_NAME"] == config.endpoint.name
    assert env["MODEL_VERSION"] == built.model.training_job_name, "a synth-time value: no export to block retraining"


def test_outputs_expose_the_gate_results(raw):
    for name, attribute in (("ModelDataUrl", "ModelDataUrl"), ("ModelVersion", "ModelVersion"),
                            ("ValidationAccuracy", "ValidationAccuracy")):
        assert raw["Outputs"][name]["Value"] == {"Fn::GetAtt": ["TrainingJob", attribute]}
