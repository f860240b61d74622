"""Batch reclassification: the second state machine of the workflow stack, and what only it needs.

A construct inside `WorkflowStack`, not a stack of its own: it runs the workflow stack's own three
functions (serialize, classify, check_confidence), so they are referenced directly, with no
CloudFormation export tying two stacks together, and the machine deploys and rolls back with the
functions whose payloads it depends on. It adds the summary function, the state machine (logs,
X-Ray), and one grant to serialize: reading the backlog prefix as well as the incoming one.

Least privilege when the prefix is known only at run time: every grant is scoped to the bucket's
batch source prefixes (`incoming/`, `backlog/`: list and read), `quarantine/` (write, as the
upload workflow) and the results prefix (write); the first state refuses a request whose prefix
is elsewhere, so a bad prefix fails with a clear error instead of AccessDenied half-way.
"""
from __future__ import annotations

from typing import Callable

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from scones_contracts.batch import BATCH_MACHINE_SUFFIX

from .batch_state_machine import MAP_LABEL, BatchDefinitionBuilder, BatchResources
from .config import SconesConfig
from .data_stack import data_object_arn_finding
from .functions import log_retention
from .nag import acknowledge, function_versions_finding

# (construct id, package, memory MB, timeout, environment) -> function, as the workflow stack builds its own
FunctionFactory = Callable[[str, str, int, Duration, dict[str, str]], lambda_.Function]


class BatchReclassification(Construct):
    """The batch state machine over the workflow stack's functions, plus its summary function."""

    def __init__(self, scope: Construct, construct_id: str, *, config: SconesConfig, bucket: s3.IBucket,
                 serialize_fn: lambda_.Function, classify_fn: lambda_.IFunction,
                 check_confidence_fn: lambda_.IFunction, routing_bus: events.IEventBus,
                 make_function: FunctionFactory) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        layout = config.bucket
        self._allow_serialize_to_read_backlog(serialize_fn, bucket)
        self.summary_fn = make_function(
            "BatchSummary", "batch_summary", config.batch.summary_memory_mb, Duration.minutes(15),
            {"BATCH_RESULTS_PREFIX": layout.batch_results_prefix})
        results = bucket.arn_for_objects(f"{layout.batch_results_prefix}*")
        self.summary_fn.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"],
                                                               resources=[results]))
        self.summary_fn.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{layout.batch_results_prefix}*"]}}))
        acknowledge(self.summary_fn.role, "IAM5",
                    "Reads the result files the map run wrote and writes summary.json next to them; the wildcard "
                    "is the batch results prefix of the data bucket only.",
                    [data_object_arn_finding(config, f"{layout.batch_results_prefix}*")])

        definition = BatchDefinitionBuilder(self, config, BatchResources(
            bucket=bucket, serialize_fn=serialize_fn, classify_fn=classify_fn,
            check_confidence_fn=check_confidence_fn, summary_fn=self.summary_fn, routing_bus=routing_bus,
        )).build()
        log_group = logs.LogGroup(self, "StateMachineLogs", retention=log_retention(config),
                                  removal_policy=RemovalPolicy.DESTROY)
        self.state_machine = sfn.StateMachine(
            self, "StateMachine",
            state_machine_name=batch_state_machine_name(config),
            # STANDARD parent (a Distributed Map needs one; it may run for hours); its children are
            # EXPRESS (see batch_state_machine).
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=Duration.hours(config.batch.timeout_hours),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel[config.batch.log_level],
                                include_execution_data=True),
        )
        CfnOutput(Stack.of(self), "BatchStateMachineArn", value=self.state_machine.state_machine_arn,
                  description="Started by `scones batch --prefix s3://BUCKET/PREFIX/`")
        self._acknowledge_findings((serialize_fn, classify_fn, check_confidence_fn, self.summary_fn))

    def _allow_serialize_to_read_backlog(self, serialize_fn: lambda_.Function, bucket: s3.IBucket) -> None:
        """serialize already reads the incoming prefix (the upload workflow); a batch also hands it backlog objects."""
        backlog = self.config.bucket.backlog_prefix
        serialize_fn.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:GetObject", "s3:GetObjectVersion"], resources=[bucket.arn_for_objects(f"{backlog}*")]))
        serialize_fn.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{backlog}*"]}}))
        acknowledge(serialize_fn.role, "IAM5",
                    "The batch workflow hands serialize objects of the backlog prefix too; the wildcard is that "
                    "prefix of the data bucket only.",
                    [data_object_arn_finding(self.config, f"{backlog}*")])

    def _acknowledge_findings(self, functions: tuple[lambda_.IFunction, ...]) -> None:
        machine, layout = self.state_machine, self.config.bucket
        acknowledge(machine, "IAM5",
                    "CDK's LambdaInvoke grant covers '<function-arn>:*', i.e. the versions and aliases of the four "
                    "functions the batch runs and nothing else.",
                    [function_versions_finding(fn) for fn in functions])
        acknowledge(machine, "IAM5",
                    "X-Ray tracing and CloudWatch Logs vended-log delivery actions support no resource-level "
                    "permissions, so AWS requires Resource '*' for them.", ["Resource::*"])
        prefixes = (*layout.batch_source_prefixes, layout.quarantine_prefix, layout.batch_results_prefix)
        acknowledge(machine, "IAM5",
                    "The request's prefix is known only at run time: the machine may read objects under the batch "
                    "source prefixes, copy refused images to the quarantine prefix and write results under the "
                    "results prefix of the data bucket; each wildcard is one of those prefixes.",
                    [data_object_arn_finding(self.config, f"{p}*") for p in prefixes])
        acknowledge(machine, "IAM5",
                    "A Distributed Map starts, describes, stops and redrives its own child executions; CDK scopes "
                    "those grants to this state machine's executions ('<machine>:*', '<machine>/<label>:*').",
                    self._own_execution_findings())
        if self.config.batch.log_level != "ALL":
            acknowledge(machine, "SF1",
                        "Logs at ERROR with execution data: every failure is logged with its input, and every "
                        "object's result is kept in the ResultWriter files. ALL would log every state of every "
                        "object (about 100 KB of history per image, measured), the largest cost of a backfill.")

    def _own_execution_findings(self) -> list[str]:
        """How cdk-nag prints CDK's grants on this machine's own executions (its ARN split for the name)."""
        stack = Stack.of(self)
        logical_id = stack.resolve(stack.get_logical_id(self.state_machine.node.default_child))
        executions = ("arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
                      '{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"%s"}]}]}' % logical_id)
        return [f"Resource::{executions}:*", f"Resource::{executions}/{MAP_LABEL}:*"]


def batch_state_machine_name(config: SconesConfig) -> str:
    """The batch machine's physical name (how `scones batch` finds it)."""
    return config.resource_name(BATCH_MACHINE_SUFFIX)
