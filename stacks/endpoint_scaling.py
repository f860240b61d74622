"""Changing `endpoint_instance_type` while autoscaling is registered (model stack).

SageMaker refuses an endpoint update that changes a variant's instance type while the variant is a
registered scalable target (SageMaker developer guide, "Update endpoints that use auto scaling":
delete the policies and deregister first, register again after). CloudFormation cannot order
that with the ScalableTarget alone: it updates the endpoint before it deletes anything. So two
`Custom::EndpointScaling` resources (provider `lambdas/endpoint_scaling`) wrap the endpoint:

    EndpointScalingRelease  -> Endpoint -> EndpointScalingRestore
    (deregisters if the          (blue/green to      (registers the target and
     instance type changes)      the new type)       its policy again)

Both carry the instance type and the very values of the stack's own ScalableTarget and
ScalingPolicy (kept, so a fresh deploy and the cost model read them as before), hence an
instance-type change updates both; nothing else about the endpoint does. A failed update's
rollback puts the old type back and the release, seeing the endpoint already runs it, registers
the variant again.
"""
from __future__ import annotations

from aws_cdk import ArnFormat, CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import custom_resources as cr
from constructs import Construct

from scones_contracts.endpoint import VARIANT_NAME

from .config import SconesConfig
from .functions import log_retention, product_function
from .nag import acknowledge, function_versions_finding, resource_finding

SCALING_SERVICE_LINKED_ROLE = ("aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
                               "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")


def scaling_properties(config: SconesConfig, policy: appscaling.CfnScalingPolicy,
                       scale_in: Duration, scale_out: Duration) -> dict[str, str]:
    """The ScalingSpec the provider reads: the same values as the stack's ScalableTarget and ScalingPolicy.

    The endpoint is named by the config's name (not a reference to it: the release must come first)."""
    c = config.endpoint
    return {
        "EndpointName": c.name, "VariantName": VARIANT_NAME, "InstanceType": c.instance_type,
        "MinCapacity": str(c.min_capacity), "MaxCapacity": str(c.max_capacity), "PolicyName": policy.policy_name,
        "TargetValue": str(float(c.target_invocations_per_instance)),
        "ScaleInCooldown": str(int(scale_in.to_seconds())), "ScaleOutCooldown": str(int(scale_out.to_seconds())),
    }


class EndpointScaling:
    """`EndpointScalingOnEvent` (+ its provider) and the release/restore resources around `endpoint`."""

    def __init__(self, scope: Construct, *, config: SconesConfig, endpoint: sagemaker.CfnEndpoint,
                 properties: dict[str, str]) -> None:
        self.scope, self.stack, self.config = scope, Stack.of(scope), config
        self.function = self._function(endpoint)
        provider_logs = logs.LogGroup(scope, "EndpointScalingProviderLogs", retention=log_retention(config),
                                      removal_policy=RemovalPolicy.DESTROY)
        self.framework_role = iam.Role(
            scope, "EndpointScalingProviderRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="CDK Provider framework onEvent function of the endpoint-scaling custom resources")
        provider_logs.grant_write(self.framework_role)
        self.provider = cr.Provider(scope, "EndpointScalingProvider", on_event_handler=self.function,
                                    log_group=provider_logs, framework_on_event_role=self.framework_role)
        self.release = CustomResource(scope, "EndpointScalingRelease", service_token=self.provider.service_token,
                                      resource_type="Custom::EndpointScaling",
                                      properties={**properties, "Phase": "release"})
        self.restore = CustomResource(scope, "EndpointScalingRestore", service_token=self.provider.service_token,
                                      resource_type="Custom::EndpointScaling",
                                      properties={**properties, "Phase": "restore"})
        endpoint.node.add_dependency(self.release)
        self.restore.node.add_dependency(endpoint)
        self._acknowledge()

    def _function(self, endpoint: sagemaker.CfnEndpoint):
        stack, c = self.stack, self.config
        fn = product_function(
            self.scope, "EndpointScalingOnEvent", config=c, package="endpoint_scaling", entry="on_event",
            memory_mb=256, timeout=Duration.minutes(2),
            role_description="Least-privilege role of the endpoint-scaling provider (deregister/register the variant)",
            description="Custom::EndpointScaling: deregisters/registers the endpoint variant around an instance type change")
        endpoint_arn = stack.format_arn(service="sagemaker", resource="endpoint", resource_name=c.endpoint.name.lower())
        self.endpoint_config_arn = stack.format_arn(service="sagemaker", resource="endpoint-config", resource_name="*")
        self.alarm_arn = stack.format_arn(service="cloudwatch", resource="alarm",
                                          resource_name=f"TargetTracking-endpoint/{c.endpoint.name}/*",
                                          arn_format=ArnFormat.COLON_RESOURCE_NAME)
        # The provider's own reads: which instance type the endpoint runs now.
        fn.add_to_role_policy(iam.PolicyStatement(sid="ReadEndpoint", actions=["sagemaker:DescribeEndpoint"],
                                                  resources=[endpoint_arn]))
        fn.add_to_role_policy(iam.PolicyStatement(sid="ReadEndpointConfig", actions=["sagemaker:DescribeEndpointConfig"],
                                                  resources=[self.endpoint_config_arn]))
        # Application Auto Scaling: Describe* take no resource; the others a scalable-target ARN whose id
        # Application Auto Scaling generates (Service Authorization Reference).
        self.target_arn = stack.format_arn(service="application-autoscaling", resource="scalable-target",
                                           resource_name="*")
        fn.add_to_role_policy(iam.PolicyStatement(sid="ReadScaling", actions=[
            "application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies"],
            resources=["*"]))
        fn.add_to_role_policy(iam.PolicyStatement(sid="Scaling", actions=[
            "application-autoscaling:RegisterScalableTarget", "application-autoscaling:DeregisterScalableTarget",
            "application-autoscaling:PutScalingPolicy", "application-autoscaling:DeleteScalingPolicy"],
            resources=[self.target_arn]))
        # What Application Auto Scaling checks on the caller's behalf when it registers a SageMaker variant
        # and manages a target-tracking policy (SageMaker guide, "Autoscaling prerequisites").
        fn.add_to_role_policy(iam.PolicyStatement(sid="ScaleThisEndpoint", actions=[
            "sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"], resources=[endpoint_arn]))
        fn.add_to_role_policy(iam.PolicyStatement(
            sid="TargetTrackingAlarms", actions=["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms",
                                                 "cloudwatch:DeleteAlarms"], resources=[self.alarm_arn]))
        fn.add_to_role_policy(iam.PolicyStatement(
            sid="ScalingServiceLinkedRole", actions=["iam:CreateServiceLinkedRole"],
            resources=[stack.format_arn(service="iam", region="", resource="role",
                                        resource_name=SCALING_SERVICE_LINKED_ROLE)],
            conditions={"StringLike": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}}))
        return fn

    def _acknowledge(self) -> None:
        stack = self.stack
        acknowledge(self.function.role, "IAM5",
                    "Application Auto Scaling's DescribeScalableTargets/DescribeScalingPolicies support no "
                    "resource-level permissions; the handler only ever names endpoint/<endpoint_name>/variant/<variant>.",
                    ["Resource::*"])
        acknowledge(self.function.role, "IAM5",
                    "A scalable target's ARN ends in an id Application Auto Scaling generates when it is registered "
                    "(scalable-target/<id>), so this account's and region's targets are the tightest bound.",
                    [resource_finding(stack, self.target_arn)])
        acknowledge(self.function.role, "IAM5",
                    "The endpoint config's name is generated by CloudFormation and changes with every model; the "
                    "handler only reads the one its endpoint names.", [resource_finding(stack, self.endpoint_config_arn)])
        acknowledge(self.function.role, "IAM5",
                    "Target tracking alarms are created by Application Auto Scaling under "
                    "TargetTracking-endpoint/<endpoint_name>/variant/... with generated suffixes.",
                    [resource_finding(stack, self.alarm_arn)])
        acknowledge(self.framework_role, "IAM5",
                    "CDK's Provider framework grants lambda:InvokeFunction on '<function-arn>:*', i.e. the versions "
                    "and aliases of our own provider handler and nothing else.",
                    [function_versions_finding(self.function)])
