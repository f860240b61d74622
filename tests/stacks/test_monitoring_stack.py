"""Monitoring stack: the snapshot, cfn-lint, and config flowing through the whole stack."""
from __future__ import annotations

import json

from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Match, Template

from stacks.config import SconesConfig
from stacks.monitoring_stack import MonitoringStack, WorkflowTargets
from tests.conftest import mask_asset_hashes
from tests.stacks.monitoring_support import config, raw, template  # noqa: F401


def test_snapshot(raw, snapshot):
    assert mask_asset_hashes(raw) == snapshot


def test_cfn_lint_reports_no_errors(raw):
    from cfnlint.api import lint_all

    errors = [str(m) for m in lint_all(json.dumps(raw)) if m.rule.id.startswith("E")]
    assert errors == []


def standalone_monitoring(context: dict) -> Template:
    """The monitoring stack alone, against imported workflow resources (no second app synthesis)."""
    app = App(context={"scones": context})
    config = SconesConfig.from_context(app)
    scope = Stack(app, "Imports")
    targets = WorkflowTargets(
        state_machine=sfn.StateMachine.from_state_machine_name(scope, "Sm", "sm"),
        serialize_fn=lambda_.Function.from_function_name(scope, "S", "s"),
        classify_fn=lambda_.Function.from_function_name(scope, "C", "c"),
        check_confidence_fn=lambda_.Function.from_function_name(scope, "F", "f"),
        open_review_fn=lambda_.Function.from_function_name(scope, "O", "o"),
        expire_review_fn=lambda_.Function.from_function_name(scope, "E", "e"),
        trigger_dlq=sqs.Queue.from_queue_arn(scope, "T", "arn:aws:sqs:us-east-1:111111111111:trigger-dlq"),
    )
    return Template.from_stack(MonitoringStack(app, "Monitoring", config=config, workflow=targets))


def test_alarm_email_subscribes_to_the_topic():
    template = standalone_monitoring({"alarm_email": "ops@example.com", "drift_schedule_hours": 6,
                                      "model_latency_alarm_ms": 250})
    template.has_resource_properties("AWS::SNS::Subscription", {
        "Protocol": "email", "Endpoint": "ops@example.com", "TopicArn": {"Ref": Match.string_like_regexp("AlarmTopic")}})
    # config flows through: the schedule, the drift alarm's period and the latency threshold in µs
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(6 hours)"})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "ModelLatency", "Threshold": 250_000})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "AlarmName": "scones-drift-confidence-psi",
        "Metrics": Match.array_with([Match.object_like({"MetricStat": Match.object_like({"Period": 6 * 3600})})])})
