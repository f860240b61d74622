"""serving_endpoint: the model from the gated artifact, data capture, blue/green with rollback alarms,
autoscaling."""
from __future__ import annotations

import json

from aws_cdk.assertions import Match

from scones.local.iam_roles import TemplateRoles
from scones.local.iam_policy import Decision, evaluate
from scones.local.iam_requests import Call, requirements
from tests.stacks.model_support import built, config, one_resource, raw, resources_of_type, template  # noqa: F401
from tests.stacks.template_helpers import template_of


def test_model_serves_the_gated_artifact(template, raw):
    template.has_resource_properties("AWS::SageMaker::Model", {
        "PrimaryContainer": Match.object_like({
            "ModelDataUrl": {"Fn::GetAtt": ["TrainingJob", "ModelDataUrl"]},
            "Environment": Match.object_like({"SAGEMAKER_PROGRAM": "inference.py",
                                              "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}),
        }),
    })
    _, model = one_resource(raw, "AWS::SageMaker::Model")
    assert any(d.startswith("ModelExecutionRoleDefaultPolicy") for d in model["DependsOn"])


def test_the_endpoint_role_may_describe_exactly_its_rollback_alarms(assembly):
    """SageMaker describes the auto-rollback alarms as the endpoint's execution role (the Model's);
    the synthesized policy must allow cloudwatch:DescribeAlarms on each alarm the endpoint names,
    and on no other alarm."""
    _, model_template = template_of(assembly, "Model")
    _, endpoint = one_resource(model_template, "AWS::SageMaker::Endpoint")
    _, model = one_resource(model_template, "AWS::SageMaker::Model")
    roles = TemplateRoles(assembly)
    role = model["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
    names = [roles.resolver.resolve(a["AlarmName"])
             for a in endpoint["Properties"]["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]]
    assert len(names) == 2

    def decisions(alarm_names):
        call = Call("cloudwatch", "DescribeAlarms", {"AlarmNames": alarm_names}, "us-east-1", "123456789012")
        return [evaluate(roles.statements(role), r.action, r.resource, r.context) for r in requirements(call)]

    assert decisions(names) == [Decision.ALLOW, Decision.ALLOW]
    assert decisions(["scones-some-other-alarm"]) == [Decision.IMPLICIT_DENY]
    assert decisions([]) == [Decision.IMPLICIT_DENY]  # all alarms: '*' is not granted
    roles.revoke(role, "cloudwatch:DescribeAlarms")  # negative control: without the grant, denied
    assert decisions(names) == [Decision.IMPLICIT_DENY, Decision.IMPLICIT_DENY]


def test_endpoint_config_captures_input_and_output(template, config):
    template.has_resource_properties("AWS::SageMaker::EndpointConfig", {
        "ProductionVariants": [Match.object_like({
            "VariantName": "AllTraffic", "InstanceType": config.endpoint.instance_type,
            "InitialInstanceCount": config.endpoint.initial_instance_count,
            "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]}})],
        "DataCaptureConfig": {
            "EnableCapture": True,
            "InitialSamplingPercentage": config.endpoint.capture_sampling_percentage,
            "DestinationS3Uri": {"Fn::Join": ["", [
                "s3://scones-data-", {"Ref": "AWS::AccountId"}, "-", {"Ref": "AWS::Region"},
                "/" + config.bucket.capture_prefix.rstrip("/")]]},
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        },
    })


def test_endpoint_blue_green_with_auto_rollback_on_alarms(raw, config):
    _, endpoint = one_resource(raw, "AWS::SageMaker::Endpoint")
    props = endpoint["Properties"]
    assert props["EndpointName"] == config.endpoint.name
    policy = props["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {"Type": "ALL_AT_ONCE",
                                                     "WaitIntervalInSeconds": config.rollout.baking_minutes * 60}
    assert policy["MaximumExecutionTimeoutInSeconds"] > policy["TrafficRoutingConfiguration"]["WaitIntervalInSeconds"]
    alarm_refs = [a["AlarmName"]["Ref"] for a in props["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]]
    alarms = resources_of_type(raw, "AWS::CloudWatch::Alarm")
    assert sorted(alarm_refs) == sorted(alarms)
    by_metric = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms.values()}
    assert set(by_metric) == {"Invocation5XXErrors", "ModelLatency"}
    for alarm in by_metric.values():
        assert alarm["Namespace"] == "AWS/SageMaker"
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {"EndpointName": config.endpoint.name,
                                                                        "VariantName": "AllTraffic"}
    errors = by_metric["Invocation5XXErrors"]
    assert errors["Statistic"] == "Sum" and errors["Threshold"] == config.rollout.rollback_5xx_errors
    latency = by_metric["ModelLatency"]
    assert latency["Unit"] == "Microseconds"
    assert latency["Threshold"] == config.rollout.rollback_model_latency_ms * 1000, "ModelLatency is in microseconds"
    assert latency["ExtendedStatistic"] == "p99"
    # The autoscaled instance count survives a model rollout; data capture changes still apply.
    assert props["RetainAllVariantProperties"] is True
    assert props["ExcludeRetainedVariantProperties"] == [{"VariantPropertyType": "DataCaptureConfig"}]


def test_autoscaling_tracks_invocations_per_instance_within_config_bounds(template, config):
    template.has_resource_properties("AWS::ApplicationAutoScaling::ScalableTarget", {
        "MinCapacity": config.endpoint.min_capacity, "MaxCapacity": config.endpoint.max_capacity,
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount", "ServiceNamespace": "sagemaker",
        "ResourceId": {"Fn::Join": ["", ["endpoint/", {"Fn::GetAtt": ["Endpoint", "EndpointName"]},
                                         "/variant/AllTraffic"]]},
        "RoleARN": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"},
                                      Match.string_like_regexp("AWSServiceRoleForApplicationAutoScaling_SageMaker")]]},
    })
    template.has_resource_properties("AWS::ApplicationAutoScaling::ScalingPolicy", {
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": Match.object_like({
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "TargetValue": config.endpoint.target_invocations_per_instance}),
    })


def test_instance_type_change_is_wrapped_by_release_and_restore_of_the_scaling_target(raw, config):
    """endpoint_instance_type changes while autoscaling is registered: the release runs before the
    endpoint (CloudFormation updates it first, as the Endpoint depends on it), the restore after, and
    both carry the instance type (so a change updates them) and exactly the stack's own target and
    policy values (so restore re-creates what CloudFormation believes exists)."""
    resources = raw["Resources"]
    wrappers = {r["Properties"]["Phase"]: (k, r) for k, r in resources.items() if r["Type"] == "Custom::EndpointScaling"}
    assert set(wrappers) == {"release", "restore"}
    (release_id, release), (_, restore) = wrappers["release"], wrappers["restore"]
    _, endpoint = one_resource(raw, "AWS::SageMaker::Endpoint")
    assert release_id in endpoint["DependsOn"]
    assert "Endpoint" in restore["DependsOn"]
    release_refs = json.dumps(release["Properties"])
    assert '"Ref": "Endpoint"' not in release_refs and '["Endpoint",' not in release_refs, \
        "the release cannot reference the endpoint it precedes"
    _, endpoint_config = one_resource(raw, "AWS::SageMaker::EndpointConfig")
    [variant] = endpoint_config["Properties"]["ProductionVariants"]
    _, target = one_resource(raw, "AWS::ApplicationAutoScaling::ScalableTarget")
    _, policy = one_resource(raw, "AWS::ApplicationAutoScaling::ScalingPolicy")
    tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    for _, wrapper in wrappers.values():
        props = wrapper["Properties"]
        assert props["InstanceType"] == variant["InstanceType"] == config.endpoint.instance_type
        assert props["EndpointName"] == config.endpoint.name and props["VariantName"] == variant["VariantName"]
        assert (int(props["MinCapacity"]), int(props["MaxCapacity"])) == (
            target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"])
        assert props["PolicyName"] == policy["Properties"]["PolicyName"]
        assert float(props["TargetValue"]) == tracking["TargetValue"]
        assert (int(props["ScaleInCooldown"]), int(props["ScaleOutCooldown"])) == (
            tracking["ScaleInCooldown"], tracking["ScaleOutCooldown"])
