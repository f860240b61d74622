"""Custom::EndpointScaling: changing `endpoint_instance_type` while autoscaling is registered.

SageMaker refuses an UpdateEndpoint that changes the instance type of a variant registered with
Application Auto Scaling (SageMaker developer guide, "Update endpoints that use auto scaling").
moto does not enforce that rule, so `SageMakerRule` applies it to the harness's UpdateEndpoint:
the tests replay what CloudFormation does on such a change, in the model stack's order (release,
endpoint update, restore), with the provider's real handler against moto's SageMaker and
Application Auto Scaling, every call the handler makes checked against its synthesized role.
A negative control shows the rule fails the update when the release is left out. (moto has no
UpdateEndpoint either: `SageMakerRule` replaces the endpoint record with the new config instead.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws

from lambdas.endpoint_scaling import handler
from lambdas.endpoint_scaling.scaling import SCALABLE_DIMENSION, SpecError
from lambdas.shared import aws_clients
from tests.conftest import set_fake_aws_env

ENDPOINT = "scones-vehicle-classifier"  # the endpoint the templates name (the role names it)
VARIANT = "AllTraffic"
RESOURCE_ID = f"endpoint/{ENDPOINT}/variant/{VARIANT}"
POLICY = "SconesModelEndpointScalableTargetInvocationsPerInstanceE710A16A"
ROLE = "arn:aws:iam::123456789012:role/model-execution"


class InstanceTypeChangeRefused(RuntimeError):
    pass


@dataclass
class SageMakerRule:
    """SageMaker's documented rule, applied to an UpdateEndpoint the harness makes (as CloudFormation would)."""
    sagemaker: Any
    autoscaling: Any

    def update_endpoint(self, config_name: str) -> None:
        current = self.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
        old, new = (self._instance_type(c) for c in (current, config_name))
        registered = self.autoscaling.describe_scalable_targets(
            ServiceNamespace="sagemaker", ResourceIds=[RESOURCE_ID], ScalableDimension=SCALABLE_DIMENSION)["ScalableTargets"]
        if old != new and registered:
            raise InstanceTypeChangeRefused(
                f"The instance type of variant {VARIANT} cannot change from {old} to {new} while it is registered "
                "as a scalable target")
        # moto implements no UpdateEndpoint: the endpoint record is replaced to the same effect (its config).
        self.sagemaker.delete_endpoint(EndpointName=ENDPOINT)
        self.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=config_name)

    def _instance_type(self, config_name: str) -> str:
        [variant] = self.sagemaker.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"]
        return variant["InstanceType"]


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    set_fake_aws_env(monkeypatch, clear=("AWS_PROFILE", "AWS_ENDPOINT_URL"))
    aws_clients.reset_clients()
    yield
    aws_clients.reset_clients()


def endpoint_config(sagemaker, instance_type: str) -> str:
    name = f"EndpointConfig-{instance_type.replace('.', '-')}"
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": VARIANT, "ModelName": "model", "InitialInstanceCount": 1, "InstanceType": instance_type}])
    return name


@pytest.fixture
def deployed():
    """The model stack as a first deploy leaves it: endpoint on ml.m5.large, variant registered with its policy."""
    with mock_aws():
        sagemaker, autoscaling = handler.aws_client("sagemaker"), handler.aws_client("application-autoscaling")
        sagemaker.create_model(ModelName="model", ExecutionRoleArn=ROLE,
                               PrimaryContainer={"Image": "pytorch-inference:2.6.0-cpu-py312"})
        sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=endpoint_config(sagemaker, "ml.m5.large"))
        autoscaling.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=RESOURCE_ID,
                                             ScalableDimension=SCALABLE_DIMENSION, MinCapacity=1, MaxCapacity=4)
        autoscaling.put_scaling_policy(**_policy_request(600.0))
        yield SageMakerRule(sagemaker, autoscaling)


def _policy_request(target: float) -> dict:
    return dict(PolicyName=POLICY, ServiceNamespace="sagemaker", ResourceId=RESOURCE_ID,
                ScalableDimension=SCALABLE_DIMENSION, PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration={
                    "TargetValue": target, "ScaleInCooldown": 300, "ScaleOutCooldown": 60,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})


def properties(phase: str, instance_type: str = "ml.m5.large", **overrides) -> dict:
    props = {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:framework-onEvent",
             "EndpointName": ENDPOINT, "VariantName": VARIANT, "InstanceType": instance_type, "MinCapacity": "1",
             "MaxCapacity": "4", "PolicyName": POLICY, "TargetValue": "600.0", "ScaleInCooldown": "300",
             "ScaleOutCooldown": "60", "Phase": phase}
    props.update(overrides)
    return props


def update(phase: str, new_type: str, old_type: str, **overrides) -> dict:
    return handler.on_event({"RequestType": "Update", "PhysicalResourceId": f"{RESOURCE_ID}/{phase}",
                             "ResourceProperties": properties(phase, new_type, **overrides),
                             "OldResourceProperties": properties(phase, old_type)})


def registration(rule: SageMakerRule) -> tuple[list, list]:
    targets = rule.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[RESOURCE_ID])
    policies = rule.autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=RESOURCE_ID)
    return targets["ScalableTargets"], policies["ScalingPolicies"]


def test_instance_type_change_with_autoscaling_registered_succeeds_and_keeps_autoscaling(deployed):
    new_config = endpoint_config(deployed.sagemaker, "ml.c5.large")
    # CloudFormation's order for the change: release -> new endpoint config + UpdateEndpoint -> restore.
    assert update("release", "ml.c5.large", "ml.m5.large")["PhysicalResourceId"] == f"{RESOURCE_ID}/release"
    assert registration(deployed) == ([], [])
    deployed.update_endpoint(new_config)  # SageMaker's rule holds: nothing registered while the type changes
    update("restore", "ml.c5.large", "ml.m5.large")
    [target], [policy] = registration(deployed)
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    assert policy["PolicyName"] == POLICY and policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 600.0 and (tracking["ScaleInCooldown"], tracking["ScaleOutCooldown"]) == (300, 60)
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"


def test_negative_control_without_the_release_sagemaker_refuses_the_update(deployed):
    new_config = endpoint_config(deployed.sagemaker, "ml.c5.large")
    with pytest.raises(InstanceTypeChangeRefused, match="cannot change from ml.m5.large to ml.c5.large"):
        deployed.update_endpoint(new_config)


def test_rollback_of_a_failed_change_registers_the_variant_again(deployed):
    update("release", "ml.c5.large", "ml.m5.large")  # forward: deregistered, then the endpoint update fails
    assert registration(deployed) == ([], [])
    # Rollback: the release goes back to ml.m5.large, which the endpoint still runs.
    update("release", "ml.m5.large", "ml.c5.large")
    targets, policies = registration(deployed)
    assert len(targets) == 1 and [p["PolicyName"] for p in policies] == [POLICY]


def test_other_scaling_changes_keep_the_variant_registered(deployed):
    update("release", "ml.m5.large", "ml.m5.large", MaxCapacity="6")
    [target], [policy] = registration(deployed)
    assert target["MaxCapacity"] == 6 and policy["PolicyName"] == POLICY
    # e.g. a new model on the same instance type: SageMaker allows it with the variant registered.
    deployed.update_endpoint(deployed.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"])


def test_create_and_delete_leave_the_registration_to_the_stacks_scalable_target(deployed):
    for request in ("Create", "Delete"):
        for phase in ("release", "restore"):
            event = {"RequestType": request, "ResourceProperties": properties(phase, "ml.c5.large"),
                     "PhysicalResourceId": f"{RESOURCE_ID}/{phase}"}
            assert handler.on_event(event) == {"PhysicalResourceId": f"{RESOURCE_ID}/{phase}"}
    targets, policies = registration(deployed)
    assert len(targets) == 1 and len(policies) == 1


def test_release_before_the_endpoint_exists_does_nothing():
    with mock_aws():
        assert update("release", "ml.c5.large", "ml.m5.large")["PhysicalResourceId"] == f"{RESOURCE_ID}/release"
        autoscaling = handler.aws_client("application-autoscaling")
        assert autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []


@pytest.mark.parametrize("overrides,message", [
    ({"Phase": "sideways"}, "Phase = 'sideways'"),
    ({"MinCapacity": "one"}, "malformed property"),
])
def test_malformed_properties_fail_the_deploy_naming_them(overrides, message):
    event = {"RequestType": "Update", "ResourceProperties": properties("release", **overrides),
             "PhysicalResourceId": "x"}
    with pytest.raises(SpecError, match=message):
        handler.on_event(event)
    props = properties("release")
    del props["PolicyName"]
    with pytest.raises(SpecError, match="'PolicyName' is missing"):
        handler.on_event({"RequestType": "Update", "ResourceProperties": props, "PhysicalResourceId": "x"})


@pytest.mark.parametrize("action", ["application-autoscaling:DeregisterScalableTarget",
                                    "sagemaker:DescribeEndpointConfig",
                                    "sagemaker:UpdateEndpointWeightsAndCapacities",
                                    "cloudwatch:PutMetricAlarm"])
def test_negative_control_each_grant_is_needed(deployed, iam, action):
    """The handler's calls are checked against its synthesized role: without one grant, denied."""
    role = iam.roles.role_of_function("lambdas.endpoint_scaling.handler.on_event")
    iam.roles.revoke(role, action)
    with pytest.raises(Exception, match="AccessDenied|not authorized"):
        update("release", "ml.c5.large", "ml.m5.large")
        update("restore", "ml.c5.large", "ml.m5.large")
    denials = iam.take_denials()
    assert denials and all(d.principal.role == role and {r.action for r in d.denied} == {action} for d in denials)
