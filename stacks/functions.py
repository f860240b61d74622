"""How every Lambda of the product is built: its own role (no managed policies), its own log group
with the configured retention, arm64, and the package's asset from `lambdas/`; the cdk-nag findings
every such function raises (X-Ray's Resource '*', the pinned runtime) are acknowledged here, once."""
from __future__ import annotations

from typing import Sequence

from aws_cdk import Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .config import SconesConfig
from .lambda_bundling import LAMBDA_ARCHITECTURE, LAMBDA_PYTHON, LAMBDA_RUNTIME, function_code, handler_path
from .nag import acknowledge, acknowledge_xray
from .partition import POWERTOOLS_PUBLISHER_ACCOUNT, SUPPORTED_PARTITION, require_supported_region

PINNED_RUNTIME_REASON = (
    "Pinned to Python 3.12 on purpose, for every product function: the official Powertools layer build "
    "(python312-arm64), the bundled Pillow wheels (cp312) and the SageMaker PyTorch container (py312) move together.")


def powertools_layer(scope: Construct, config: SconesConfig, purpose: str) -> lambda_.ILayerVersion:
    """`PowertoolsLayer`: the official Powertools for AWS Lambda (Python) v3 layer for the pinned runtime.
    Commercial partition only (stacks/partition.py: the publisher account differs elsewhere)."""
    region = Stack.of(scope).region
    if not Token.is_unresolved(region):
        require_supported_region(region, purpose)
    return lambda_.LayerVersion.from_layer_version_arn(
        scope, "PowertoolsLayer",
        f"arn:{SUPPORTED_PARTITION}:lambda:{region}:{POWERTOOLS_PUBLISHER_ACCOUNT}:layer:"
        f"AWSLambdaPowertoolsPythonV3-python{LAMBDA_PYTHON.replace('.', '')}-arm64:"
        f"{config.functions.powertools_layer_version}")


def service_name(config: SconesConfig, package: str) -> str:
    """A workflow function's Powertools `service` (its POWERTOOLS_SERVICE_NAME and metric dimension)."""
    return f"{config.project_name}-{package.replace('_', '-')}"


def log_retention(config: SconesConfig) -> logs.RetentionDays:
    return getattr(logs.RetentionDays, config.logs.retention_name)


def product_function(scope: Construct, construct_id: str, *, config: SconesConfig, package: str,
                     role_description: str, memory_mb: int, timeout: Duration,
                     environment: dict[str, str] | None = None, entry: str = "handler",
                     requirements: tuple[str, ...] = (), runtime: lambda_.Runtime = LAMBDA_RUNTIME,
                     tracing: bool = True, layers: Sequence[lambda_.ILayerVersion] | None = None,
                     description: str | None = None) -> lambda_.Function:
    """`<construct_id>` with `<construct_id>Role` and `<construct_id>Logs`; handler `lambdas.<package>.handler.<entry>`.

    Tracing on (the default) acknowledges X-Ray's Resource '*' on the role; the pinned LAMBDA_RUNTIME
    acknowledges cdk-nag's latest-runtime rule (L1).
    """
    log_group = logs.LogGroup(scope, f"{construct_id}Logs", retention=log_retention(config),
                              removal_policy=RemovalPolicy.DESTROY)
    role = iam.Role(scope, f"{construct_id}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                    description=role_description)
    fn = lambda_.Function(
        scope, construct_id,
        runtime=runtime,
        architecture=LAMBDA_ARCHITECTURE,
        handler=handler_path(package, entry),
        code=function_code(package, requirements),
        memory_size=memory_mb,
        timeout=timeout,
        role=role,
        log_group=log_group,
        tracing=lambda_.Tracing.ACTIVE if tracing else None,
        layers=layers,
        environment=environment,
        description=description,
    )
    log_group.grant_write(role)
    if tracing:
        acknowledge_xray(role)
    if runtime.name == LAMBDA_RUNTIME.name:
        acknowledge(fn, "L1", PINNED_RUNTIME_REASON)
    return fn
