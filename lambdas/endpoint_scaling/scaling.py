"""The endpoint variant's autoscaling around an endpoint update (pure core: clients are passed in).

SageMaker refuses an UpdateEndpoint that changes the instance type of a variant registered with
Application Auto Scaling ("Update endpoints that use auto scaling", SageMaker developer guide):
the scaling policies must be deleted and the target deregistered first, and registered again
after the update. CloudFormation alone cannot order that (it deletes replaced resources only
after every update), so the model stack declares two `Custom::EndpointScaling` resources around
the endpoint, each carrying the full scaling spec (`ScalingSpec`, the same values as the
stack's own AWS::ApplicationAutoScaling::ScalableTarget and ::ScalingPolicy):

    release  (the endpoint depends on it) on Update: `before_endpoint_update`
    restore  (depends on the endpoint)    on Update: `register` (the target and its policy again)

Create and Delete do nothing: the stack's ScalableTarget and ScalingPolicy create and delete
the registration, and are left exactly as they were declared (same target, same policy name and
configuration), so CloudFormation's view stays true.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

from botocore.exceptions import ClientError

SERVICE_NAMESPACE = "sagemaker"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
PREDEFINED_METRIC = "SageMakerVariantInvocationsPerInstance"

logger = logging.getLogger(__name__)


class SpecError(ValueError):
    """A resource property is missing or not what the model stack declares."""


@dataclass(frozen=True)
class ScalingSpec:
    endpoint_name: str
    variant_name: str
    instance_type: str
    min_capacity: int
    max_capacity: int
    policy_name: str
    target_value: float
    scale_in_cooldown: int
    scale_out_cooldown: int

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> "ScalingSpec":
        """From ResourceProperties as CloudFormation delivers them (every scalar a string)."""
        try:
            return cls(endpoint_name=str(props["EndpointName"]), variant_name=str(props["VariantName"]),
                       instance_type=str(props["InstanceType"]), min_capacity=int(props["MinCapacity"]),
                       max_capacity=int(props["MaxCapacity"]), policy_name=str(props["PolicyName"]),
                       target_value=float(props["TargetValue"]), scale_in_cooldown=int(props["ScaleInCooldown"]),
                       scale_out_cooldown=int(props["ScaleOutCooldown"]))
        except KeyError as missing:
            raise SpecError(f"Custom::EndpointScaling property {missing} is missing") from None
        except (TypeError, ValueError) as bad:
            raise SpecError(f"Custom::EndpointScaling has a malformed property: {bad}") from None

    @property
    def resource_id(self) -> str:
        return f"endpoint/{self.endpoint_name}/variant/{self.variant_name}"


def deployed_instance_type(sagemaker: Any, spec: ScalingSpec) -> str | None:
    """The instance type the endpoint's variant runs now (None: no such endpoint or variant yet)."""
    try:
        config_name = sagemaker.describe_endpoint(EndpointName=spec.endpoint_name)["EndpointConfigName"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationException":  # SageMaker's "not found"
            return None
        raise
    variants = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"]
    return next((v.get("InstanceType") for v in variants if v["VariantName"] == spec.variant_name), None)


def is_registered(autoscaling: Any, spec: ScalingSpec) -> bool:
    targets = autoscaling.describe_scalable_targets(ServiceNamespace=SERVICE_NAMESPACE, ResourceIds=[spec.resource_id],
                                                    ScalableDimension=SCALABLE_DIMENSION)["ScalableTargets"]
    return bool(targets)


def deregister(autoscaling: Any, spec: ScalingSpec) -> bool:
    """Delete the variant's scaling policies, then deregister it (as the SageMaker guide says). False: it was not."""
    if not is_registered(autoscaling, spec):
        return False
    policies = autoscaling.describe_scaling_policies(ServiceNamespace=SERVICE_NAMESPACE, ResourceId=spec.resource_id,
                                                     ScalableDimension=SCALABLE_DIMENSION)["ScalingPolicies"]
    for policy in policies:
        autoscaling.delete_scaling_policy(PolicyName=policy["PolicyName"], ServiceNamespace=SERVICE_NAMESPACE,
                                          ResourceId=spec.resource_id, ScalableDimension=SCALABLE_DIMENSION)
    autoscaling.deregister_scalable_target(ServiceNamespace=SERVICE_NAMESPACE, ResourceId=spec.resource_id,
                                           ScalableDimension=SCALABLE_DIMENSION)
    return True


def register(autoscaling: Any, spec: ScalingSpec) -> None:
    """Register the variant and put its target-tracking policy (both calls are upserts)."""
    autoscaling.register_scalable_target(ServiceNamespace=SERVICE_NAMESPACE, ResourceId=spec.resource_id,
                                         ScalableDimension=SCALABLE_DIMENSION, MinCapacity=spec.min_capacity,
                                         MaxCapacity=spec.max_capacity)
    autoscaling.put_scaling_policy(
        PolicyName=spec.policy_name, ServiceNamespace=SERVICE_NAMESPACE, ResourceId=spec.resource_id,
        ScalableDimension=SCALABLE_DIMENSION, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": spec.target_value,
            "PredefinedMetricSpecification": {"PredefinedMetricType": PREDEFINED_METRIC},
            "ScaleInCooldown": spec.scale_in_cooldown,
            "ScaleOutCooldown": spec.scale_out_cooldown,
        })


def before_endpoint_update(autoscaling: Any, sagemaker: Any, spec: ScalingSpec) -> str:
    """Make the registration acceptable to the endpoint update that follows; says what it did.

    The endpoint runs another instance type than `spec`'s: the update will change it, so the
    variant is deregistered ("deregistered", or "not registered"). It already runs `spec`'s type
    (nothing to change: other scaling values changed, or the rollback of a failed instance-type
    change, whose release had deregistered it): registered again ("registered"). No endpoint yet:
    "no endpoint".
    """
    deployed = deployed_instance_type(sagemaker, spec)
    if deployed is None:
        return "no endpoint"
    if deployed != spec.instance_type:
        return "deregistered" if deregister(autoscaling, spec) else "not registered"
    register(autoscaling, spec)
    return "registered"
