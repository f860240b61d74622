"""Every log group the deployment writes to has the configured retention (config `log_retention_days`).

Three kinds of log group, three ways:

* Our functions: `functions.product_function` gives each its own `AWS::Logs::LogGroup`.
* Functions CDK adds on its own (the bucket-notifications handler of an EventBridge-enabled
  bucket, the LogRetention handler below, the auto-delete-objects provider when the bucket is
  destroyable): `FunctionLogGroups`, an Aspect, gives every `AWS::Lambda::Function` that logs to
  no group of its own an `AWS::Logs::LogGroup` with the retention (deleted with the stack, as the
  functions' own) and points its `LoggingConfig.LogGroup` at it. Lambda then never creates
  `/aws/lambda/<name>` (with no retention) for it.
* Groups SageMaker creates under fixed names (`sagemaker_log_group`): a `Custom::LogRetention`
  (CDK's maintained handler) creates the group if it does not exist yet, or adopts it, and sets
  the retention. Adopting matters because these names are known in advance but may already exist:
  - `/aws/sagemaker/TrainingJobs` is ONE group per account and region, shared by every training
    job there (SageMaker's naming, not ours). The retention therefore applies to every training
    job's logs in that account/region; the group is RETAINED when the stack is deleted (other
    jobs may write to it), its retention stays.
  - `/aws/sagemaker/Endpoints/<endpoint_name>` belongs to our endpoint (the name is the config's):
    the group is DELETED with the stack, after the endpoint (the endpoint depends on it, so
    SageMaker cannot re-create it without retention in between). An earlier deploy whose endpoint
    already created it is adopted, not a failure.
  The handler (a stack singleton) runs with our own role, not CDK's default (which has
  AWSLambdaBasicExecutionRole and retention rights on '*'): it may create, set the retention of
  (and, for the endpoint's, delete) exactly these groups, and write its own logs. It has a fixed
  name (`<project>-sagemaker-log-retention`) because on Create it also gives its default group
  `/aws/lambda/<its name>` a 1-day retention (CDK's behaviour), which its role must be able to name.
"""
from __future__ import annotations

import jsii
from aws_cdk import ArnFormat, Aspects, CfnResource, IAspect, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from .config import SconesConfig
from .functions import log_retention
from .nag import acknowledge, resource_finding

LAMBDA_FUNCTION = "AWS::Lambda::Function"
LOG_RETENTION_FUNCTION_ID = "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a"  # CDK's singleton id (aws-logs)
TRAINING_JOBS_LOG_GROUP = "/aws/sagemaker/TrainingJobs"


def endpoint_log_group_name(endpoint_name: str) -> str:
    return f"/aws/sagemaker/Endpoints/{endpoint_name}"


@jsii.implements(IAspect)
class FunctionLogGroups:
    """Aspect: a log group with the configured retention for every Lambda function that has none.

    The group is `<function construct id>Logs` beside the function; a function that already has
    one of that id (see `_log_retention_role`) or a LoggingConfig.LogGroup is left alone.
    """

    def __init__(self, config: SconesConfig) -> None:
        self.config = config

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, CfnResource) or node.cfn_resource_type != LAMBDA_FUNCTION:
            return
        if isinstance(node, lambda_.CfnFunction):
            config = node.logging_config
            if config is not None and getattr(config, "log_group", None):
                return
        if node.node.scope.node.try_find_child(_group_id(node)) is not None:
            return
        _give_log_group(node, self.config)


def _group_id(function: CfnResource) -> str:
    return f"{function.node.id}Logs"


def _give_log_group(function: CfnResource, config: SconesConfig) -> logs.LogGroup:
    group = logs.LogGroup(function.node.scope, _group_id(function), retention=log_retention(config),
                          removal_policy=RemovalPolicy.DESTROY)
    function.add_property_override("LoggingConfig.LogGroup", group.log_group_name)
    return group


def apply_function_log_groups(scope: Construct, config: SconesConfig) -> None:
    Aspects.of(scope).add(FunctionLogGroups(config))


def sagemaker_log_groups(scope: Construct, *, config: SconesConfig, groups: dict[str, tuple[str, bool]]
                         ) -> dict[str, logs.LogRetention]:
    """Create-or-adopt each SageMaker log group with the retention: {construct id: (group name, shared)}.

    `shared`: the group is not ours alone (kept when the stack is deleted); else deleted with the stack.
    """
    stack = Stack.of(scope)
    role = _log_retention_role(scope, config, {name: shared for name, shared in groups.values()})
    created = {construct_id: logs.LogRetention(
        scope, construct_id, log_group_name=name, retention=log_retention(config), role=role.without_policy_updates(),
        removal_policy=RemovalPolicy.RETAIN if shared else RemovalPolicy.DESTROY)
        for construct_id, (name, shared) in groups.items()}
    singleton = stack.node.find_child(LOG_RETENTION_FUNCTION_ID).node.default_child
    singleton.add_property_override("FunctionName", _handler_name(config))
    own_logs = _give_log_group(singleton, config)
    own_logs.grant_write(role)
    # The role's policy must be in place before the handler runs.
    for resource in created.values():
        resource.node.add_dependency(role)
    return created


def _handler_name(config: SconesConfig) -> str:
    return config.resource_name("sagemaker-log-retention")


def _group_arn(stack: Stack, name: str) -> str:
    return stack.format_arn(service="logs", resource="log-group", resource_name=f"{name}:*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME)


def _log_retention_role(scope: Construct, config: SconesConfig, groups: dict[str, bool]) -> iam.Role:
    """The LogRetention handler's role: exactly `groups` ({name: shared}) and its own default group.

    CDK gets it `without_policy_updates()`, so CDK's own '*' grants are not added to it."""
    stack = Stack.of(scope)
    role = iam.Role(scope, "SageMakerLogRetentionRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                    description="CDK's LogRetention handler: retention of the log groups SageMaker writes to")
    own_default = _group_arn(stack, f"/aws/lambda/{_handler_name(config)}")
    role.add_to_policy(iam.PolicyStatement(
        sid="Retention", actions=["logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy"],
        resources=[_group_arn(stack, name) for name in groups] + [own_default]))
    ours = [_group_arn(stack, name) for name, shared in groups.items() if not shared]
    if ours:
        role.add_to_policy(iam.PolicyStatement(sid="DeleteWithTheStack", actions=["logs:DeleteLogGroup"],
                                               resources=ours))
    acknowledge(role, "IAM5",
                "Log group ARNs end in ':*' (the group and its streams) in the form CloudWatch Logs authorizes; each "
                "names one group: SageMaker's training group, this endpoint's group, the handler's own default group.",
                [resource_finding(stack, _group_arn(stack, name)) for name in groups] + [resource_finding(stack, own_default)])
    return role
