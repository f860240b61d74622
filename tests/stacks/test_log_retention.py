"""log_groups: EVERY log group the deployment writes to has the configured retention: each Lambda
function's (ours and the ones CDK adds: bucket-notifications handler, LogRetention handler,
auto-delete-objects provider) and the groups SageMaker writes to under fixed names (training jobs,
the endpoint), with their ownership: the shared training group is kept, the endpoint's goes with
the stack after the endpoint."""
from __future__ import annotations

import json

import pytest
from aws_cdk import App

from stacks.config import SconesConfig
from stacks.data_stack import DataStack
from stacks.log_groups import TRAINING_JOBS_LOG_GROUP, apply_function_log_groups, endpoint_log_group_name
from tests.stacks.template_helpers import iam_statements, template_of

STACKS = ("Data", "Model", "Workflow", "Monitoring")


def _function_log_groups(template: dict) -> dict[str, dict]:
    """{function logical id: the AWS::Logs::LogGroup its LoggingConfig names} (fails if it names none)."""
    resources = template["Resources"]
    found = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        group = (resource["Properties"].get("LoggingConfig") or {}).get("LogGroup")
        assert isinstance(group, dict) and "Ref" in group, f"{logical_id} logs to no group of the stack: {group!r}"
        assert resources[group["Ref"]]["Type"] == "AWS::Logs::LogGroup", logical_id
        found[logical_id] = resources[group["Ref"]]
    return found


@pytest.mark.parametrize("suffix", STACKS)
def test_every_lambda_function_logs_to_a_group_with_the_configured_retention(assembly, suffix):
    _, template = template_of(assembly, suffix)
    groups = _function_log_groups(template)
    for logical_id, group in groups.items():
        assert group["Properties"].get("RetentionInDays") == SconesConfig().logs.retention_days, logical_id
    if suffix in ("Data", "Model", "Workflow"):
        assert groups, f"{suffix} has functions"


def test_bucket_notifications_handler_has_a_log_group_with_retention(assembly):
    _, template = template_of(assembly, "Data")
    groups = _function_log_groups(template)
    handler = [k for k in groups if k.startswith("BucketNotificationsHandler")]
    assert len(handler) == 1, list(groups)
    group = groups[handler[0]]
    assert group["Properties"]["RetentionInDays"] == 30
    assert group["DeletionPolicy"] == "Delete"  # goes with the stack, like the functions' own groups


def test_destroyable_bucket_auto_delete_provider_has_a_log_group_with_retention(tmp_path):
    config = SconesConfig.from_mapping({"bucket_removal_policy": "destroy", "log_retention_days": 14})
    app = App(outdir=str(tmp_path))
    stack = DataStack(app, "DestroyableData", config=config)
    apply_function_log_groups(app, config)
    template = app.synth().get_stack_by_name(stack.stack_name).template
    groups = _function_log_groups(template)
    assert any(k.startswith("CustomS3AutoDeleteObjectsCustomResourceProviderHandler") for k in groups), list(groups)
    assert len(groups) == 2 and all(g["Properties"]["RetentionInDays"] == 14 for g in groups.values())


def _log_retentions(template: dict) -> dict[str, tuple[str, dict]]:
    return {r["Properties"]["LogGroupName"]: (k, r) for k, r in template["Resources"].items()
            if r["Type"] == "Custom::LogRetention"}


def test_sagemaker_log_groups_are_created_or_adopted_with_retention(assembly):
    _, template = template_of(assembly, "Model")
    config = SconesConfig()
    retentions = _log_retentions(template)
    assert set(retentions) == {TRAINING_JOBS_LOG_GROUP, endpoint_log_group_name(config.endpoint.name)}
    assert endpoint_log_group_name(config.endpoint.name) == f"/aws/sagemaker/Endpoints/{config.endpoint.name}"
    for _, resource in retentions.values():
        assert resource["Properties"]["RetentionInDays"] == 30
    # Shared by every training job of the account/region: kept when the stack goes.
    assert retentions[TRAINING_JOBS_LOG_GROUP][1]["Properties"]["RemovalPolicy"] == "retain"
    # The endpoint's own: deleted with the stack.
    assert retentions[endpoint_log_group_name(config.endpoint.name)][1]["Properties"]["RemovalPolicy"] == "destroy"


def test_sagemaker_log_groups_exist_before_what_writes_to_them(assembly):
    _, template = template_of(assembly, "Model")
    retentions = _log_retentions(template)
    resources = template["Resources"]
    [(endpoint_id, endpoint)] = [(k, r) for k, r in resources.items() if r["Type"] == "AWS::SageMaker::Endpoint"]
    [(_, job)] = [(k, r) for k, r in resources.items() if r["Type"] == "Custom::SageMakerTrainingJob"]
    endpoint_group_id = retentions[endpoint_log_group_name(SconesConfig().endpoint.name)][0]
    training_group_id = retentions[TRAINING_JOBS_LOG_GROUP][0]
    # The endpoint depends on its group: created after it, deleted before it (SageMaker cannot
    # re-create the group without retention after it was deleted).
    assert endpoint_group_id in endpoint.get("DependsOn", []), endpoint_id
    assert training_group_id in job.get("DependsOn", [])


def test_log_retention_handler_runs_with_a_role_naming_exactly_its_groups(assembly):
    _, template = template_of(assembly, "Model")
    resources = template["Resources"]
    [(fn_id, handler)] = [(k, r) for k, r in resources.items()
                          if r["Type"] == "AWS::Lambda::Function" and k.startswith("LogRetention")]
    config = SconesConfig()
    assert handler["Properties"]["FunctionName"] == f"{config.project_name}-sagemaker-log-retention"
    role_id = handler["Properties"]["Role"]["Fn::GetAtt"][0]
    assert role_id.startswith("SageMakerLogRetentionRole")
    assert "ManagedPolicyArns" not in resources[role_id]["Properties"]
    statements = [s for logical_id, s in iam_statements(template) if logical_id.startswith("SageMakerLogRetentionRole")]
    granted = {}
    for statement in statements:
        assert statement["Effect"] == "Allow" and statement["Resource"] != "*"
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]):
            granted.setdefault(action, []).append(json.dumps(statement["Resource"]))
    retention = " ".join(granted["logs:PutRetentionPolicy"])
    for name in (TRAINING_JOBS_LOG_GROUP, endpoint_log_group_name(config.endpoint.name),
                 f"/aws/lambda/{config.project_name}-sagemaker-log-retention"):
        assert f":log-group:{name}:*" in retention, name
    # Only the endpoint's group may be deleted (with the stack); the shared training group never.
    deletable = " ".join(granted["logs:DeleteLogGroup"])
    assert endpoint_log_group_name(config.endpoint.name) in deletable and TRAINING_JOBS_LOG_GROUP not in deletable
    assert set(granted) == {"logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy",
                            "logs:DeleteLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
