"""The human-review part of the image-routing state machine (JSONPath, typed CDK tasks).

    Ask for review (low confidence) / Describe failure (retries exhausted)  -> $.review_request
      -> Wait for review: open_review with `.waitForTaskToken`; TimeoutSeconds = review_timeout_hours,
         no heartbeat (a person deciding has no progress to report, so a heartbeat would only add a way
         to fail); the review API's SendTaskSuccess resumes it with the decision in $.review
      -> Reviewer's decision?
           bicycle | motorcycle -> Publish reviewer routing event -> Routed by reviewer
           reject               -> Note rejection -> Quarantine rejected image -> Record rejection
                                   -> Publish photo rejected -> Rejected by reviewer
      States.Timeout -> Expire review -> Publish review expired -> Review expired (image kept where it is)
    Audit sample (after an automatic routing): Open audit review (plain invoke, nobody waits).

A failure after the reviewer decided ends in the Fail state (the decision is kept in the table and the
execution history; the failed-executions alarm fires): it never opens a second review, so an
execution waits for a human at most once and its timeout is review_timeout_hours plus the
processing timeout.
"""
from __future__ import annotations

from typing import Callable

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from scones_contracts.classes import CLASS_NAMES
from scones_contracts.events import (DECIDED_BY_REVIEWER, OUTCOME_QUARANTINED, OUTCOME_REVIEW_EXPIRED, OUTCOME_ROUTED,
                                     PHOTO_REJECTED_DETAIL_TYPE, REVIEW_EXPIRED_DETAIL_TYPE, ROUTING_EVENT_DETAIL_TYPE,
                                     ROUTING_EVENT_SOURCE)
from scones_contracts.review import REASON_AUDIT, REASON_LOW_CONFIDENCE, REASON_PROCESSING_FAILED, REJECT, REJECTED_BY_REVIEWER

from .config import SconesConfig
from .quarantine_steps import quarantine_steps
from .task_steps import EXECUTION_ID, retry_integration, retry_lambda

MODEL = "$.review.resume.model"
QUARANTINE = "$.review.resume.quarantine"

# (state name, function, payload, result path, Catch target, Catch result path) -> LambdaInvoke
Step = Callable[..., tasks.LambdaInvoke]


def object_fields() -> dict[str, str]:
    """The uploaded object, as every step after `Keep decision` (and every Catch) has it at the top."""
    return {"bucket": sfn.JsonPath.string_at("$.bucket"), "key": sfn.JsonPath.string_at("$.key"),
            "etag": sfn.JsonPath.string_at("$.etag"), "version_id": sfn.JsonPath.string_at("$.version_id")}


def idempotency_key() -> str:
    return sfn.JsonPath.format("{}#{}", sfn.JsonPath.string_at("$.key"), sfn.JsonPath.string_at("$.etag"))


class ReviewStepsBuilder:
    """Builds the review states; `lambda_step` makes a LambdaInvoke with the machine's retry policy."""

    def __init__(self, scope: Construct, config: SconesConfig, *, bucket: s3.IBucket, routing_bus: events.IEventBus,
                 open_review_fn: lambda_.IFunction, expire_review_fn: lambda_.IFunction, failed: sfn.IChainable,
                 lambda_step: Step) -> None:
        self.scope, self.config, self.bucket, self.bus = scope, config, bucket, routing_bus
        self.open_fn, self.expire_fn, self.failed = open_review_fn, expire_review_fn, failed
        self.lambda_step = lambda_step
        self.wait = self._wait_for_review()

    # -- ways in -------------------------------------------------------------------------------
    def ask_for_review(self) -> sfn.IChainable:
        """Low confidence: the model's decision goes to a reviewer."""
        return sfn.Pass(self.scope, "Ask for review", result_path="$.review_request", parameters={
            "reason": REASON_LOW_CONFIDENCE, **_dollar(object_fields()),
            "source_format.$": "$.source_format", "decision.$": "$.decision",
        }).next(self.wait)

    def describe_failure(self) -> sfn.IChainable:
        """Any step failed for good (its Catch): a reviewer can still route the driver."""
        return sfn.Pass(self.scope, "Describe failure", result_path="$.review_request", parameters={
            "reason": REASON_PROCESSING_FAILED, **_dollar(object_fields()), "error.$": "$.error",
        }).next(self.wait)

    def audit(self, then: sfn.IChainable) -> sfn.IChainable:
        """A confident decision in the audit sample: an audit item (no token), then `then` whatever happens."""
        step = self.lambda_step("Open audit review", self.open_fn, {
            "request": {"reason": REASON_AUDIT, **object_fields(),
                        "source_format": sfn.JsonPath.string_at("$.source_format"),
                        "decision": sfn.JsonPath.object_at("$.decision")},
        # The driver is already routed: a lost audit item must not turn into a processing failure.
        }, sfn.JsonPath.DISCARD, then, "$.audit_error")
        return step.next(then)

    # -- the wait and what follows ---------------------------------------------------------------
    def _wait_for_review(self) -> sfn.IChainable:
        wait = tasks.LambdaInvoke(
            self.scope, "Wait for review",
            lambda_function=self.open_fn,
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object({
                "request": sfn.JsonPath.object_at("$.review_request"),
                "execution_id": sfn.JsonPath.string_at(EXECUTION_ID),
                "task_token": sfn.JsonPath.task_token,
            }),
            task_timeout=sfn.Timeout.duration(Duration.seconds(self.config.review.timeout_seconds)),
            retry_on_service_exceptions=False,
            result_path="$.review",
        )
        # A retried intake gets a new token and rewrites the same pending item (open_review).
        retry_lambda(wait)
        wait.add_catch(self._expiry_path(), errors=["States.Timeout"], result_path="$.timeout")
        wait.add_catch(self.failed, errors=["States.ALL"], result_path="$.error")
        decision = (
            sfn.Choice(self.scope, "Reviewer's decision?")
            .when(sfn.Condition.string_equals("$.review.label", REJECT), self._rejection_path())
            .when(sfn.Condition.or_(*[sfn.Condition.string_equals("$.review.label", label) for label in CLASS_NAMES]),
                  self._reviewer_routing_path())
            .otherwise(sfn.Fail(self.scope, "Unknown decision", error="UnknownDecision",
                                cause=f"the reviewer's label is none of {list(CLASS_NAMES) + [REJECT]}"))
        )
        return wait.next(decision)

    def _put_event(self, name: str, detail_type: str, detail: dict, result_path: str) -> tasks.EventBridgePutEvents:
        step = tasks.EventBridgePutEvents(
            self.scope, name,
            entries=[tasks.EventBridgePutEventsEntry(event_bus=self.bus, source=ROUTING_EVENT_SOURCE,
                                                     detail_type=detail_type,
                                                     detail=sfn.TaskInput.from_object(detail))],
            result_selector={"event_id.$": "$.Entries[0].EventId"},
            result_path=result_path,
        )
        retry_integration(step)
        step.add_catch(self.failed, errors=["States.ALL"], result_path="$.error")
        return step

    def _reviewer_routing_path(self) -> sfn.IChainable:
        publish = self._put_event("Publish reviewer routing event", ROUTING_EVENT_DETAIL_TYPE, {
            **object_fields(),
            "label": sfn.JsonPath.string_at("$.review.label"),
            "confidence": sfn.JsonPath.number_at(f"{MODEL}.confidence"),
            "threshold": sfn.JsonPath.number_at(f"{MODEL}.threshold"),
            "model_version": sfn.JsonPath.string_at(f"{MODEL}.model_version"),
            "decided_by": DECIDED_BY_REVIEWER,
            "model_label": sfn.JsonPath.string_at(f"{MODEL}.label"),
            "model_confidence": sfn.JsonPath.number_at(f"{MODEL}.confidence"),
            "idempotency_key": idempotency_key(),
            "execution_id": sfn.JsonPath.string_at(EXECUTION_ID),
        }, "$.routing")
        return publish.next(sfn.Pass(self.scope, "Routed by reviewer", parameters={
            "outcome": OUTCOME_ROUTED, "decided_by": DECIDED_BY_REVIEWER,
            "bucket.$": "$.bucket", "key.$": "$.key", "etag.$": "$.etag",
            "label.$": "$.review.label", "confidence.$": f"{MODEL}.confidence",
            "model_label.$": f"{MODEL}.label", "model_confidence.$": f"{MODEL}.confidence",
            "review_id.$": "$.review.review_id", "reviewer.$": "$.review.reviewer", "note.$": "$.review.note",
            "event_id.$": "$.routing.event_id",
        }))

    def _rejection_path(self) -> sfn.IChainable:
        bucket, prefix = self.bucket, self.config.bucket.quarantine_prefix
        note = sfn.Pass(self.scope, "Note rejection", result_path="$.rejection", parameters={
            # the quarantine reason record (scones_contracts.quarantine), plus who decided
            "bucket.$": "$.bucket", "key.$": "$.key", "version_id.$": "$.version_id", "etag.$": "$.etag",
            "reason_code": REJECTED_BY_REVIEWER, "reason.$": "$.review.note", "detected_at.$": "$.review.decided_at",
            "review_id.$": "$.review.review_id", "reviewer.$": "$.review.reviewer",
        })
        layout = self.config.bucket
        copy, record = quarantine_steps(
            self.scope, bucket, quarantine_prefix=prefix, source_prefixes=[layout.incoming_prefix],
            where=QUARANTINE, reason_code=REJECTED_BY_REVIEWER, record="$.rejection",
            names=("Quarantine rejected image", "Record rejection"))
        for step in (copy, record):
            retry_integration(step)
            step.add_catch(self.failed, errors=["States.ALL"], result_path="$.error")
        publish = self._put_event("Publish photo rejected", PHOTO_REJECTED_DETAIL_TYPE, {
            **object_fields(), "reason_code": REJECTED_BY_REVIEWER,
            "note": sfn.JsonPath.string_at("$.review.note"),
            "review_id": sfn.JsonPath.string_at("$.review.review_id"),
            "quarantine_key": sfn.JsonPath.string_at(f"{QUARANTINE}.quarantine_key"),
            "idempotency_key": idempotency_key(), "execution_id": sfn.JsonPath.string_at(EXECUTION_ID),
        }, "$.rejected")
        return note.next(copy).next(record).next(publish).next(sfn.Pass(self.scope, "Rejected by reviewer", parameters={
            "outcome": OUTCOME_QUARANTINED, "decided_by": DECIDED_BY_REVIEWER,
            "bucket.$": "$.bucket", "key.$": "$.key", "etag.$": "$.etag",
            "reason_code": REJECTED_BY_REVIEWER, "reason.$": "$.review.note", "note.$": "$.review.note",
            "review_id.$": "$.review.review_id", "reviewer.$": "$.review.reviewer",
            "quarantine_key.$": f"{QUARANTINE}.quarantine_key", "reason_key.$": f"{QUARANTINE}.reason_key",
            "event_id.$": "$.rejected.event_id",
        }))

    def _expiry_path(self) -> sfn.IChainable:
        expire = self.lambda_step("Expire review", self.expire_fn, {
            "reason": sfn.JsonPath.string_at("$.review_request.reason"),
        }, "$.expiry", self.failed)
        publish = self._put_event("Publish review expired", REVIEW_EXPIRED_DETAIL_TYPE, {
            **object_fields(),
            "review_id": sfn.JsonPath.string_at("$.expiry.review_id"),
            "reason": sfn.JsonPath.string_at("$.expiry.reason"),
            "idempotency_key": idempotency_key(), "execution_id": sfn.JsonPath.string_at(EXECUTION_ID),
        }, "$.expired")
        return expire.next(publish).next(sfn.Pass(self.scope, "Review expired", parameters={
            "outcome": OUTCOME_REVIEW_EXPIRED, "bucket.$": "$.bucket", "key.$": "$.key", "etag.$": "$.etag",
            "review_id.$": "$.expiry.review_id", "reason.$": "$.expiry.reason",
            "event_id.$": "$.expired.event_id",
        }))


def _dollar(fields: dict[str, str]) -> dict[str, str]:
    """`{"key": "$.key"}` (JsonPath tokens) as Pass-state parameters `{"key.$": "$.key"}`."""
    return {f"{name}.$": f"$.{name}" for name in fields}
