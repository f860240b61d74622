"""The image-routing state machine, built from typed CDK tasks.

One builder, one small `_create_*_step()` per business step; the human-review states come from
`review_steps.ReviewStepsBuilder`. JSONPath, except the first step: claiming the delivery needs the
time as a number (the claim's TTL), which no JSONPath intrinsic gives, so that one state is JSONata
(moto evaluates it through `scones.local.moto_shims`).

    Claim delivery -> (already claimed: Duplicate delivery)
    Serialize image -> Valid image? -> Classify vehicle -> Check confidence -> Keep decision -> Confident?
        confident     -> Publish routing event (decided_by model) -> Audit sample? [-> Open audit review] -> Routed
        not confident -> Ask for review -> Wait for review (callback) -> routed / rejected / expired (review_steps)
        invalid image -> Quarantine image -> Record quarantine reason -> Quarantined
        any error     -> Describe failure -> Wait for review (a human can still route the driver)
"""
from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from scones_contracts.events import (DECIDED_BY_MODEL, OUTCOME_DUPLICATE, OUTCOME_QUARANTINED, OUTCOME_ROUTED,
                                     ROUTING_EVENT_DETAIL_TYPE, ROUTING_EVENT_SOURCE)

from .config import SconesConfig
from .quarantine_steps import quarantine_steps, quarantined_output
from .review_steps import ReviewStepsBuilder, idempotency_key, object_fields
from .task_steps import EXECUTION_ID, lambda_task, retry_dynamodb, retry_endpoint, retry_integration

CLAIM_REFUSED = "DynamoDB.ConditionalCheckFailedException"
# The delivery claims table: one item per object version, keyed by `<key>#<version id>` (or
# `<key>#etag:<ETag>` for an unversioned object), with the claiming execution and an expiry.
CLAIM_PARTITION_KEY = "object_version"
CLAIM_EXPIRY_ATTRIBUTE = "expires_at"


def state_machine_name(config: SconesConfig) -> str:
    """The image-routing state machine's name (the review stack refers to it by this name)."""
    return config.resource_name("image-routing")


@dataclass(frozen=True)
class WorkflowResources:
    """What the state machine needs from the rest of the workflow stack."""

    bucket: s3.IBucket
    claims_table: dynamodb.ITable
    serialize_fn: lambda_.IFunction
    classify_fn: lambda_.IFunction
    check_confidence_fn: lambda_.IFunction
    open_review_fn: lambda_.IFunction
    expire_review_fn: lambda_.IFunction
    routing_bus: events.IEventBus


class ImageRoutingStateMachineBuilder:
    """Builds the definition; the stack owns the StateMachine resource, logs and tracing."""

    def __init__(self, scope: Construct, config: SconesConfig, resources: WorkflowResources) -> None:
        self.scope = scope
        self.config = config
        self.r = resources

    def build(self) -> sfn.IChainable:
        # After a reviewer decided, a failure ends here: never in a second review (review_steps).
        failed = sfn.Fail(self.scope, "Processing failed", error_path="$.error.Error", cause_path="$.error.Cause")
        self.review = ReviewStepsBuilder(
            self.scope, self.config, bucket=self.r.bucket, routing_bus=self.r.routing_bus,
            open_review_fn=self.r.open_review_fn, expire_review_fn=self.r.expire_review_fn, failed=failed,
            lambda_step=self._lambda_step)
        failure = self.review.describe_failure()
        claim = self._create_claim_step(failure)
        quarantine = self._create_quarantine_path(failure)
        serialize = self._create_serialize_step(failure)
        classify = self._create_classify_step(failure)
        check = self._create_check_confidence_step(failure)
        routed = self._create_routing_path(failure)
        confident = (
            sfn.Choice(self.scope, "Confident enough?")
            .when(sfn.Condition.boolean_equals("$.decision.confident", True), routed)
            .otherwise(self.review.ask_for_review())
        )
        valid = (
            sfn.Choice(self.scope, "Valid image?")
            .when(sfn.Condition.boolean_equals("$.image.valid", True), classify.next(check).next(confident))
            .otherwise(quarantine)
        )
        return claim.next(serialize).next(valid)

    # -- steps ---------------------------------------------------------------------------------
    def _lambda_step(self, name: str, fn: lambda_.IFunction, payload: dict, result_path: str,
                     failure: sfn.IChainable, error_path: str = "$.error") -> tasks.LambdaInvoke:
        step = lambda_task(self.scope, name, fn, payload, result_path)
        step.add_catch(failure, errors=["States.ALL"], result_path=error_path)
        return step

    def _create_claim_step(self, failure: sfn.IChainable) -> tasks.DynamoPutItem:
        """Claim the uploaded object version, once: EventBridge delivers an upload event at least once,
        and every delivery starts an execution. A conditional put succeeds for the first delivery (and
        for this execution's own retry of it); any other delivery of the same version ends as
        `duplicate`, before anything is read, classified or routed. The claim expires after
        `delivery_claim_ttl_hours` (DynamoDB TTL); the execution's input passes through unchanged."""
        state = "$states.input"
        claimed_by = "{% $states.context.Execution.Id %}"
        ttl_seconds = self.config.workflow.delivery_claim_ttl_hours * 3600
        attr = tasks.DynamoAttributeValue
        claim = tasks.DynamoPutItem.jsonata(
            self.scope, "Claim delivery",
            table=self.r.claims_table,
            item={
                CLAIM_PARTITION_KEY: attr.from_string(
                    f"{{% {state}.key & '#' & ({state}.version_id ? {state}.version_id : 'etag:' & {state}.etag) %}}"),
                "key": attr.from_string(f"{{% {state}.key %}}"),
                "execution_id": attr.from_string(claimed_by),
                "claimed_at": attr.from_string("{% $states.context.Execution.StartTime %}"),
                CLAIM_EXPIRY_ATTRIBUTE: attr.number_from_string(
                    f"{{% $string($floor($toMillis($states.context.Execution.StartTime) / 1000) + {ttl_seconds}) %}}"),
            },
            condition_expression=f"attribute_not_exists({CLAIM_PARTITION_KEY}) OR execution_id = :me",
            expression_attribute_values={":me": attr.from_string(claimed_by)},
            outputs=f"{{% {state} %}}",
        )
        retry_dynamodb(claim)
        duplicate = sfn.Pass(self.scope, "Duplicate delivery", parameters={
            "outcome": OUTCOME_DUPLICATE,
            "bucket.$": "$.bucket", "key.$": "$.key", "etag.$": "$.etag", "version_id.$": "$.version_id",
            "reason": "this object version was already claimed by another execution (a redelivered upload event)",
        })
        claim.add_catch(duplicate, errors=[CLAIM_REFUSED], outputs=f"{{% {state} %}}")
        claim.add_catch(failure, errors=["States.ALL"],
                        outputs=f"{{% $merge([{state}, {{'error': $states.errorOutput}}]) %}}")
        return claim

    def _create_serialize_step(self, failure: sfn.IChainable) -> sfn.IChainable:
        step = self._lambda_step(
            "Serialize image", self.r.serialize_fn,
            {
                "bucket": sfn.JsonPath.string_at("$.bucket"),
                "key": sfn.JsonPath.string_at("$.key"),
                "etag": sfn.JsonPath.string_at("$.etag"),
                "version_id": sfn.JsonPath.string_at("$.version_id"),
                "size": sfn.JsonPath.string_at("$.size"),
            },
            "$.image", failure,
        )
        return step

    def _create_classify_step(self, failure: sfn.IChainable) -> tasks.LambdaInvoke:
        step = self._lambda_step(
            "Classify vehicle", self.r.classify_fn,
            {"image": sfn.JsonPath.object_at("$.image")},
            "$.classification", failure,
        )
        retry_endpoint(step, self.config.workflow.endpoint_max_attempts)
        return step

    def _create_check_confidence_step(self, failure: sfn.IChainable) -> sfn.IChainable:
        step = self._lambda_step(
            "Check confidence", self.r.check_confidence_fn,
            {"classification": sfn.JsonPath.object_at("$.classification")},
            "$.decision", failure,
        )
        # Drop the image bytes and envelopes: what follows needs only the decision (and the upload's
        # format, for the review console). The key/ETag serialize actually read (the event's key may be
        # URL-encoded, its ETag absent).
        return step.next(sfn.Pass(self.scope, "Keep decision", parameters={
            "bucket.$": "$.decision.bucket", "key.$": "$.decision.key", "etag.$": "$.decision.etag",
            "version_id.$": "$.decision.version_id", "source_format.$": "$.image.source_format",
            "decision.$": "$.decision",
        }))

    def _create_routing_path(self, failure: sfn.IChainable) -> sfn.IChainable:
        d = "$.decision"
        publish = tasks.EventBridgePutEvents(
            self.scope, "Publish routing event",
            entries=[tasks.EventBridgePutEventsEntry(
                event_bus=self.r.routing_bus,
                source=ROUTING_EVENT_SOURCE,
                detail_type=ROUTING_EVENT_DETAIL_TYPE,
                detail=sfn.TaskInput.from_object({
                    **object_fields(),
                    "label": sfn.JsonPath.string_at(f"{d}.label"),
                    "confidence": sfn.JsonPath.number_at(f"{d}.confidence"),
                    "threshold": sfn.JsonPath.number_at(f"{d}.threshold"),
                    "model_version": sfn.JsonPath.string_at(f"{d}.model_version"),
                    "decided_by": DECIDED_BY_MODEL,
                    "model_label": sfn.JsonPath.string_at(f"{d}.label"),
                    "model_confidence": sfn.JsonPath.number_at(f"{d}.confidence"),
                    "idempotency_key": idempotency_key(),
                    "execution_id": sfn.JsonPath.string_at(EXECUTION_ID),
                }),
            )],
            result_selector={"event_id.$": "$.Entries[0].EventId"},
            result_path="$.routing",
        )
        retry_integration(publish)
        publish.add_catch(failure, errors=["States.ALL"], result_path="$.error")
        routed = sfn.Pass(self.scope, "Routed", parameters={
            "outcome": OUTCOME_ROUTED, "decided_by": DECIDED_BY_MODEL,
            "bucket.$": "$.bucket", "key.$": "$.key", "etag.$": "$.etag",
            "label.$": f"{d}.label", "confidence.$": f"{d}.confidence", "threshold.$": f"{d}.threshold",
            "model_label.$": f"{d}.label", "model_confidence.$": f"{d}.confidence",
            "model_version.$": f"{d}.model_version", "audited.$": f"{d}.audit", "event_id.$": "$.routing.event_id",
        })
        audit = (
            sfn.Choice(self.scope, "Audit sample?")
            .when(sfn.Condition.boolean_equals(f"{d}.audit", True), self.review.audit(routed))
            .otherwise(routed)
        )
        return publish.next(audit)

    def _create_quarantine_path(self, failure: sfn.IChainable) -> sfn.IChainable:
        layout = self.config.bucket
        copy, record = quarantine_steps(
            self.scope, self.r.bucket, quarantine_prefix=layout.quarantine_prefix,
            source_prefixes=[layout.incoming_prefix], where="$.image",
            reason_code=sfn.JsonPath.string_at("$.image.reason_code"), record="$.image.reason_record")
        for step in (copy, record):
            retry_integration(step)
            step.add_catch(failure, errors=["States.ALL"], result_path="$.error")
        return copy.next(record).next(sfn.Pass(self.scope, "Quarantined", parameters={
            "outcome": OUTCOME_QUARANTINED, **quarantined_output("$.image")}))
