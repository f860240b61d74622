"""SageMaker execution roles (the training job's and the endpoint's): least privilege, and every
wildcard they need acknowledged with its reason."""
from __future__ import annotations

from typing import Sequence

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from .framework_images import FrameworkImages
from .nag import acknowledge, resource_finding


def sagemaker_execution_role(scope: Construct, construct_id: str, *, description: str,
                             statements: Sequence[iam.PolicyStatement], images: FrameworkImages, image_scope: str,
                             log_group: str, stream_pattern: str, wildcards: dict[str, str]) -> iam.Role:
    """A role SageMaker assumes: `statements` (the job's or endpoint's own S3 access), then pulling the one
    framework image (`image_scope`: training/inference) and writing logs and metrics to `log_group`.

    `wildcards` maps each wildcard resource among `statements` to the reason it is the tightest bound.
    """
    role = iam.Role(scope, construct_id, assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                    description=description)
    for statement in statements:
        role.add_to_policy(statement)
    stack = Stack.of(scope)
    role.add_to_policy(iam.PolicyStatement(
        sid="PullFrameworkImage",
        actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
        resources=[images.repository_arn(image_scope)]))
    role.add_to_policy(iam.PolicyStatement(
        sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]))
    group_arn, stream_arn = _log_arns(stack, log_group, stream_pattern)
    role.add_to_policy(iam.PolicyStatement(
        sid="LogGroup", actions=["logs:CreateLogGroup", "logs:DescribeLogStreams"], resources=[group_arn]))
    role.add_to_policy(iam.PolicyStatement(
        sid="LogStreams", actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[stream_arn]))
    role.add_to_policy(iam.PolicyStatement(
        sid="Metrics", actions=["cloudwatch:PutMetricData"], resources=["*"],
        conditions={"StringEquals": {"cloudwatch:namespace": log_group}}))

    acknowledge(role, "IAM5",
                "ecr:GetAuthorizationToken (registry login) and cloudwatch:PutMetricData (limited by a "
                "cloudwatch:namespace condition) support no resource-level permissions; image pulls themselves "
                "are limited to the one framework repository.", ["Resource::*"])
    acknowledge(role, "IAM5",
                f"SageMaker writes the container logs to log group {log_group}, one stream per instance and "
                "job/variant that SageMaker names; the group and its streams are the bound.",
                [resource_finding(stack, group_arn), resource_finding(stack, stream_arn)])
    for arn, reason in wildcards.items():
        acknowledge(role, "IAM5", reason, [resource_finding(stack, arn)])
    return role


def _log_arns(stack: Stack, log_group: str, stream_pattern: str) -> tuple[str, str]:
    group = stack.format_arn(service="logs", resource="log-group", resource_name=f"{log_group}:*",
                             arn_format=ArnFormat.COLON_RESOURCE_NAME)
    stream = stack.format_arn(service="logs", resource="log-group",
                              resource_name=f"{log_group}:log-stream:{stream_pattern}",
                              arn_format=ArnFormat.COLON_RESOURCE_NAME)
    return group, stream
