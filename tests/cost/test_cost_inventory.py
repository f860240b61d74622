"""Reading templates by resource type: what is priced, what is free, what is declared but unknown."""
from __future__ import annotations

import json

import pytest

from scones.cost.inventory import read_inventory, runs_per_month

from .cost_helpers import DEFINITION


def _machine(definition=DEFINITION, **props):
    return {"Type": "AWS::StepFunctions::StateMachine",
            "Properties": {"DefinitionString": json.dumps(definition), **props}}


UPLOAD_RULE = {"Type": "AWS::Events::Rule", "Properties": {
    "EventPattern": {"source": ["aws.s3"], "detail-type": ["Object Created"]},
    "Targets": [{"Arn": {"Ref": "Upload"}, "Id": "Target0"}]}}


def test_resources_are_found_by_type_across_stacks():
    templates = {
        "StackA": {"Resources": {
            "Upload": _machine(StateMachineType="EXPRESS", TracingConfiguration={"Enabled": True}),
            "Rule": UPLOAD_RULE,
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
                "Handler": "a.handler", "MemorySize": 512, "Architectures": ["arm64"], "Timeout": 9,
                "LoggingConfig": {"LogGroup": {"Ref": "FnLogs"}}}},
            "FnLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 7}},
        }},
        "StackB": {"Resources": {
            "Batch": _machine(),
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"BillingMode": "PAY_PER_REQUEST"}},
            "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "HTTP"}},
            "Pool": {"Type": "AWS::Cognito::UserPool", "Properties": {}},
            "PoolClient": {"Type": "AWS::Cognito::UserPoolClient", "Properties": {}},
            "Stream": {"Type": "AWS::Kinesis::Stream", "Properties": {}},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
            "Schedule": {"Type": "AWS::Events::Rule", "Properties": {
                "ScheduleExpression": "rate(15 minutes)", "Targets": [{"Arn": {"Fn::GetAtt": ["Fn", "Arn"]}}]}},
        }},
    }
    inventory = read_inventory(templates)
    upload = inventory.upload_machine()
    assert upload.logical_id == "Upload" and upload.type == "EXPRESS" and upload.tracing
    assert not inventory.state_machines["Batch"].upload_triggered
    fn = inventory.functions["Fn"]
    assert (fn.handler, fn.memory_mb, fn.architecture, fn.timeout_s, fn.log_group) == ("a.handler", 512, "arm64", 9, "FnLogs")
    assert inventory.log_retention_days == {"FnLogs": 7}
    assert inventory.tables[0].on_demand and inventory.apis == {"Api": "HTTP"} and inventory.user_pools == 1
    assert inventory.unpriced == {"AWS::Kinesis::Stream": 1}  # IAM and pool clients are free
    assert inventory.schedules[0].function_targets == ("Fn",)
    assert inventory.schedules[0].runs_per_month == pytest.approx(730 * 4)


def test_endpoint_capture_and_scaling_bounds():
    templates = {"S": {"Resources": {
        "Config": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": {
            "DataCaptureConfig": {"EnableCapture": True, "InitialSamplingPercentage": 25},
            "ProductionVariants": [{"InstanceType": "ml.c5.large", "InitialInstanceCount": 2}]}},
        "Target": {"Type": "AWS::ApplicationAutoScaling::ScalableTarget", "Properties": {
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount", "MinCapacity": 2, "MaxCapacity": 6}},
        "Policy": {"Type": "AWS::ApplicationAutoScaling::ScalingPolicy", "Properties": {
            "ScalingTargetId": {"Ref": "Target"}, "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                "TargetValue": 300}}},
    }}}
    endpoint, = read_inventory(templates).endpoints
    assert (endpoint.instance_type, endpoint.initial_instance_count, endpoint.capture_percent) == ("ml.c5.large", 2, 25)
    assert (endpoint.min_capacity, endpoint.max_capacity, endpoint.target_invocations_per_instance_minute) == (2, 6, 300)
    assert not endpoint.serverless


def test_metric_math_alarms_count_each_metric_and_custom_metrics_are_kept():
    templates = {"S": {"Resources": {
        "Plain": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "Namespace": "AWS/Lambda", "MetricName": "Errors", "Period": 300}},
        "Math": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Metrics": [
            {"Id": "e", "Expression": "a / b"},
            {"Id": "a", "MetricStat": {"Period": 10, "Metric": {"Namespace": "Mine", "MetricName": "A",
                                                                 "Dimensions": [{"Name": "service", "Value": "x"}]}}},
            {"Id": "b", "MetricStat": {"Period": 10, "Metric": {"Namespace": "Mine", "MetricName": "B"}}}]}},
    }}}
    plain, math_alarm = sorted(read_inventory(templates).alarms, key=lambda a: a.metric_count)
    assert (plain.metric_count, plain.high_resolution, plain.custom_metrics) == (1, False, ())
    assert (math_alarm.metric_count, math_alarm.high_resolution) == (2, True)
    assert math_alarm.custom_metrics == ("Mine/A{service=x}", "Mine/B{}")


def test_no_or_several_upload_triggered_machines_is_an_error_naming_them():
    with pytest.raises(ValueError, match="found 0"):
        read_inventory({"S": {"Resources": {"M": _machine()}}}).upload_machine()


@pytest.mark.parametrize("expression, runs", [("rate(1 hour)", 730), ("rate(2 hours)", 365), ("rate(1 day)", 730 / 24),
                                              ("rate(30 minutes)", 1460)])
def test_schedule_rates(expression, runs):
    assert runs_per_month(expression) == pytest.approx(runs)


def test_a_cron_schedule_is_refused_by_name():
    with pytest.raises(ValueError, match="only rate"):
        runs_per_month("cron(0 * * * ? *)")
