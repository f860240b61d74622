"""The workflow stack: the three routing Lambdas, the review table and its two workflow Lambdas
(open_review, expire_review), the routing bus, the delivery claims table, the state machine, the
S3-upload trigger, and the batch-reclassification state machine over the same Lambdas (batch_workflow)."""
from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from scones_contracts.classes import CLASS_NAMES
from scones_contracts.images import IMAGE_FORMATS
from scones_contracts.review import AUDIT_SAMPLE_RATE_VARIABLE

from .batch_workflow import BatchReclassification
from .config import SconesConfig
from .config_groups import UPLOAD_EVENT_MAX_AGE_HOURS
from .functions import log_retention, powertools_layer, product_function, service_name
from .data_stack import data_bucket_name, data_object_arn_finding
from .nag import acknowledge, function_versions_finding
from .review_table import review_table
from .state_machine import (CLAIM_EXPIRY_ATTRIBUTE, CLAIM_PARTITION_KEY, ImageRoutingStateMachineBuilder,
                            WorkflowResources, state_machine_name)

PILLOW_REQUIREMENT = "pillow==12.2.0"


class WorkflowStack(Stack):
    """Everything that runs per uploaded image."""

    def __init__(self, scope: Construct, construct_id: str, *, config: SconesConfig,
                 endpoint_name: str, endpoint_arn: str | None = None, model_version: str = "unknown", **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        # Referenced by its deterministic name (see data_stack), so no export ties the stacks together.
        self.bucket = bucket = s3.Bucket.from_bucket_name(self, "DataBucket", data_bucket_name(self, config))
        self.log_retention = log_retention(config)
        self.powertools_layer = powertools_layer(self, config, "Powertools layer of the workflow functions")

        self.review_table = review_table(self, config)
        self.routing_bus = events.EventBus(self, "RoutingBus", event_bus_name=config.resource_name("routing"))
        self.claims_table = self._create_claims_table()

        self.serialize_fn = self._create_function(
            "SerializeImage", "serialize", config.functions.serialize_memory_mb, Duration.seconds(30),
            {
                "INCOMING_PREFIX": config.bucket.incoming_prefix,
                "QUARANTINE_PREFIX": config.bucket.quarantine_prefix,
                "MAX_IMAGE_BYTES": str(config.images.max_bytes),
                "MAX_IMAGE_PIXELS": str(config.images.max_pixels),
                "PAYLOAD_MAX_SIDE": str(config.images.payload_max_side),
                "ALLOWED_FORMATS": ",".join(IMAGE_FORMATS),
            },
            requirements=(PILLOW_REQUIREMENT,),
        )
        self.serialize_fn.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:GetObject", "s3:GetObjectVersion"],
            resources=[bucket.arn_for_objects(f"{config.bucket.incoming_prefix}*")],
        ))
        # ListBucket (limited to the prefix) lets a missing object read as 404, not 403.
        self.serialize_fn.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{config.bucket.incoming_prefix}*"]}},
        ))
        acknowledge(self.serialize_fn.role, "IAM5",
                    "Reads any uploaded image, and only those: objects under the incoming prefix.",
                    [data_object_arn_finding(config, f"{config.bucket.incoming_prefix}*")])

        self.classify_fn = self._create_function(
            "ClassifyVehicle", "classify", config.functions.classify_memory_mb, Duration.seconds(30),
            {
                "ENDPOINT_NAME": endpoint_name,
                "CLASS_NAMES": ",".join(CLASS_NAMES),
                "MODEL_VERSION": model_version,
                "INVOKE_TIMEOUT_SECONDS": "20",
            },
        )
        self.classify_fn.add_to_role_policy(iam.PolicyStatement(
            actions=["sagemaker:InvokeEndpoint"],
            # SageMaker lower-cases endpoint names in ARNs.
            resources=[endpoint_arn or self.format_arn(service="sagemaker", resource="endpoint",
                                                       resource_name=endpoint_name.lower())],
        ))

        self.check_confidence_fn = self._create_function(
            "CheckConfidence", "check_confidence", config.functions.check_confidence_memory_mb, Duration.seconds(10),
            {"THRESHOLD": str(config.decision.threshold),
             AUDIT_SAMPLE_RATE_VARIABLE: str(config.review.audit_sample_rate)},
        )
        self._create_review_functions()

        self.state_machine = self._create_state_machine()
        self.trigger_rule = self._create_trigger()
        self.batch = BatchReclassification(
            self, "BatchReclassification", config=config, bucket=bucket, serialize_fn=self.serialize_fn,
            classify_fn=self.classify_fn, check_confidence_fn=self.check_confidence_fn,
            routing_bus=self.routing_bus, make_function=self._create_function)

    # ------------------------------------------------------------------------------------------
    def _create_review_functions(self) -> None:
        """open_review writes review items (PutItem only); expire_review expires them (UpdateItem only)."""
        config, table = self.config, self.review_table
        self.open_review_fn = self._create_function(
            "OpenReview", "open_review", config.functions.review_memory_mb, Duration.seconds(10),
            {
                "REVIEW_TABLE_NAME": table.table_name,
                "REVIEW_TIMEOUT_SECONDS": str(config.review.timeout_seconds),
                "REVIEW_RETENTION_DAYS": str(config.review.retention_days),
                "INCOMING_PREFIX": config.bucket.incoming_prefix,
                "QUARANTINE_PREFIX": config.bucket.quarantine_prefix,
            },
        )
        self.open_review_fn.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:PutItem"],
                                                                   resources=[table.table_arn]))
        self.expire_review_fn = self._create_function(
            "ExpireReview", "expire_review", config.functions.review_memory_mb, Duration.seconds(10),
            {"REVIEW_TABLE_NAME": table.table_name},
        )
        self.expire_review_fn.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:UpdateItem"],
                                                                     resources=[table.table_arn]))

    def _create_claims_table(self) -> dynamodb.Table:
        """One item per uploaded object version the workflow has claimed (see the state machine's
        first step). Short-lived by design (TTL), so destroyed with the stack; point-in-time recovery
        costs next to nothing at this size and restores claims after an accidental write."""
        return dynamodb.Table(
            self, "DeliveryClaims",
            partition_key=dynamodb.Attribute(name=CLAIM_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            time_to_live_attribute=CLAIM_EXPIRY_ATTRIBUTE,
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _create_function(self, construct_id: str, package: str, memory_mb: int, timeout: Duration,
                         environment: dict[str, str], requirements: tuple[str, ...] = ()) -> lambda_.Function:
        """One function: its own role (no managed policies), log group, X-Ray tracing, Powertools (configured
        from the environment set here)."""
        fn = product_function(
            self, construct_id, config=self.config, package=package, requirements=requirements,
            role_description=f"Least-privilege role of the {package} function",
            memory_mb=memory_mb, timeout=timeout, layers=[self.powertools_layer],
            environment={
                "POWERTOOLS_SERVICE_NAME": service_name(self.config, package),
                "POWERTOOLS_METRICS_NAMESPACE": self.config.monitoring.metrics_namespace,
                "LOG_LEVEL": "INFO",
                **environment,
            },
        )
        return fn

    def _create_state_machine(self) -> sfn.StateMachine:
        resources = WorkflowResources(
            bucket=self.bucket, claims_table=self.claims_table, serialize_fn=self.serialize_fn,
            classify_fn=self.classify_fn, check_confidence_fn=self.check_confidence_fn, open_review_fn=self.open_review_fn,
            expire_review_fn=self.expire_review_fn, routing_bus=self.routing_bus,
        )
        definition = ImageRoutingStateMachineBuilder(self, self.config, resources).build()
        log_group = logs.LogGroup(self, "StateMachineLogs", retention=self.log_retention,
                                  removal_policy=RemovalPolicy.DESTROY)
        machine = sfn.StateMachine(
            self, "ImageRoutingStateMachine",
            state_machine_name=state_machine_name(self.config),
            # STANDARD: exactly-once steps, up to a year of run time for retries with backoff, and a
            # 90-day execution history per image, which is the audit trail of every routing decision.
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            # The longest wait for a reviewer plus the processing around it (config.execution_timeout_seconds).
            timeout=Duration.seconds(self.config.execution_timeout_seconds),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        self._acknowledge_state_machine_findings(machine)
        return machine

    def _acknowledge_state_machine_findings(self, machine: sfn.StateMachine) -> None:
        functions = (self.serialize_fn, self.classify_fn, self.check_confidence_fn, self.open_review_fn,
                     self.expire_review_fn)
        acknowledge(machine, "IAM5",
                    "CDK's LambdaInvoke grant covers '<function-arn>:*', i.e. the versions and aliases of our own "
                    "five workflow functions and nothing else.",
                    [function_versions_finding(fn) for fn in functions])
        acknowledge(machine, "IAM5",
                    "X-Ray tracing and CloudWatch Logs vended-log delivery actions support no resource-level "
                    "permissions, so AWS requires Resource '*' for them.", ["Resource::*"])
        acknowledge(machine, "IAM5",
                    "Quarantine (of an invalid image, or of one a reviewer rejected) copies an uploaded image (read "
                    "under incoming/) to quarantine/ and writes its reason there; the wildcards are those two "
                    "prefixes of the data bucket only.",
                    [data_object_arn_finding(self.config, f"{p}*")
                     for p in (self.config.bucket.incoming_prefix, self.config.bucket.quarantine_prefix)])

    def _create_trigger(self) -> events.Rule:
        """S3 Object Created under incoming/ -> start an execution with just what it needs."""
        self.trigger_dlq = sqs.Queue(
            self, "TriggerDeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(self.trigger_dlq, "SQS3",
                    "This queue IS the dead-letter queue of the upload rule's target; a DLQ of a DLQ adds nothing.")
        rule = events.Rule(
            self, "ImageUploadedRule",
            description="Starts the image-routing workflow for every image uploaded under the incoming prefix",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [self.bucket.bucket_name]},
                    "object": {"key": [{"prefix": self.config.bucket.incoming_prefix}]},
                },
            ),
        )
        rule.add_target(targets.SfnStateMachine(
            self.state_machine,
            input=events.RuleTargetInput.from_object({
                "bucket": events.EventField.from_path("$.detail.bucket.name"),
                "key": events.EventField.from_path("$.detail.object.key"),
                "etag": events.EventField.from_path("$.detail.object.etag"),
                "version_id": events.EventField.from_path("$.detail.object.version-id"),
                "size": events.EventField.from_path("$.detail.object.size"),
            }),
            dead_letter_queue=self.trigger_dlq,
            retry_attempts=8,
            max_event_age=Duration.hours(UPLOAD_EVENT_MAX_AGE_HOURS),
        ))
        return rule


