"""cdk-nag (3.x) acknowledgments: each names the exact finding and says why it is acceptable.

Also how to name a finding exactly: cdk-nag prints a resource as its flattened CloudFormation
value (`nag_flatten`), e.g. `Resource::<TrainingJobOnEvent1234ABCD.Arn>:*`.
"""
from __future__ import annotations

import json

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import IConstruct

PACK = "AwsSolutions"
XRAY_REASON = ("X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions, so AWS requires "
               "Resource '*' for tracing.")


def acknowledge(scope: IConstruct, rule: str, reason: str, findings: list[str] | None = None) -> None:
    """Acknowledge `rule` (e.g. "IAM5") on `scope`, for the listed finding details only if given.

    A finding detail is what cdk-nag prints in brackets, e.g. "Resource::*".
    """
    ids = [f"{PACK}::{PACK}-{rule}[{f}]" for f in findings] if findings else [f"{PACK}::{PACK}-{rule}"]
    Validations.of(scope).acknowledge(*[Acknowledgment(id=i, reason=reason) for i in ids])


def acknowledge_xray(role: iam.IRole) -> None:
    """The Resource '*' that active X-Ray tracing adds to a function's role (the one place it is acknowledged)."""
    acknowledge(role, "IAM5", XRAY_REASON, ["Resource::*"])


def resource_finding(stack: Stack, arn: str) -> str:
    """The finding detail of a (token) resource ARN in a policy statement."""
    return f"Resource::{nag_flatten(stack, arn)}"


def function_versions_finding(fn: lambda_.IFunction) -> str:
    """The finding detail of '<function-arn>:*' (the versions and aliases of `fn`), as CDK's invoke grants add."""
    stack = Stack.of(fn)
    logical_id = stack.resolve(stack.get_logical_id(fn.node.default_child))
    return f"Resource::<{logical_id}.Arn>:*"


def nag_flatten(stack: Stack, value) -> str:
    """How cdk-nag prints a (token) resource in a finding: a port of its flattenCfnReference."""

    def visit(node) -> str:
        if node is None:
            return ""
        if isinstance(node, str):
            return node.replace("${", "<").replace("}", ">")
        if isinstance(node, dict):
            if "Fn::Join" in node:
                delimiter, items = node["Fn::Join"]
                return delimiter.join(visit(i) for i in items)
            if "Fn::Sub" in node:
                return visit(node["Fn::Sub"])
            if "Fn::GetAtt" in node:
                resource, attribute = node["Fn::GetAtt"]
                return f"<{visit(resource)}.{visit(attribute)}>"
            if "Fn::ImportValue" in node:
                return visit(node["Fn::ImportValue"])
            if "Ref" in node:
                return f"<{visit(node['Ref'])}>"
        return json.dumps(node, separators=(",", ":"))

    return visit(stack.resolve(value))
