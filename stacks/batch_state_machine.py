"""The batch-reclassification state machine's definition, built from typed CDK constructs.

    Valid request? -- no --> Invalid request (Fail)
      | yes
    Reclassify objects: Distributed Map, S3 ListObjectsV2 over the request's prefix, one EXPRESS
      child execution per object, MaxConcurrency and ToleratedFailurePercentage from the config,
      ResultWriter to <batch_results_prefix><execution name>/
        Folder marker? -> Skipped
        Serialize image -> Valid image?
          invalid -> Quarantine image -> Record quarantine reason -> Quarantined
          valid   -> Classify vehicle -> Check confidence -> Keep decision -> Confident enough?
                       no  -> Needs review                       (nothing is sent: a backfill asks no one)
                       yes -> Publish requested? -- yes -> Publish routing event -> Routed
                                                 -- no  -> Routed without event
      | done                     | any error (e.g. more failures than tolerated)
    Map run complete          Map run failed
      \\-> Summarize batch (summary.json next to the results) -> Batch succeeded?
                                     yes -> Batch summary (the execution's output)
                                     no  -> Batch failed (Fail: BatchFailed, cause "<map run's error>: <its cause>")

An object whose steps fail (retries exhausted) fails its child execution: it is listed in the
ResultWriter's FAILED file with its error and cause, and counts toward the tolerated percentage.
No state here touches the review queue or the review table, and no state claims the upload: a
backfill re-reads objects the upload workflow already handled, and must neither wait for
reviewers nor be refused as a duplicate. JSONPath only, so moto's interpreter runs it locally.
"""
from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from scones_contracts.batch import OUTCOME_SKIPPED, REQUEST_PREFIX, REQUEST_PUBLISH
from scones_contracts.events import (DECIDED_BY_MODEL, OUTCOME_QUARANTINED, OUTCOME_REVIEW, OUTCOME_ROUTED,
                                     ROUTING_EVENT_DETAIL_TYPE, ROUTING_EVENT_SOURCE)

from .config import SconesConfig
from .quarantine_steps import quarantine_steps, quarantined_output
from .task_steps import EXECUTION_ID, lambda_task, retry_endpoint, retry_integration, retry_lambda

MAP_LABEL = "Reclassify"  # the child executions' names start with it
BATCH_FAILED_ERROR = "BatchFailed"
INVALID_REQUEST_ERROR = "InvalidBatchRequest"


@dataclass(frozen=True)
class BatchResources:
    """What the batch definition needs: the bucket it reads and writes, the functions, the bus."""

    bucket: s3.IBucket
    serialize_fn: lambda_.IFunction
    classify_fn: lambda_.IFunction
    check_confidence_fn: lambda_.IFunction
    summary_fn: lambda_.IFunction
    routing_bus: events.IEventBus


class SourcePrefixesReader(sfn.S3ObjectsItemReader):
    """ListObjectsV2 over the request's prefix, allowed to list only the batch source prefixes.

    CDK's reader grants s3:ListBucket on the whole bucket; the condition keeps the listing to the
    prefixes the batch may read (the request's prefix is only known at run time)."""

    def __init__(self, *, bucket: s3.IBucket, prefix: str, allowed_prefixes: tuple[str, ...]) -> None:
        super().__init__(bucket=bucket, prefix=prefix)
        self._listing_statement = iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{p}*" for p in allowed_prefixes]}})

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return [self._listing_statement]


class ResultsPrefixWriter(sfn.ResultWriterV2):
    """The ResultWriter, allowed to write (and, as the service requires, read back and abort
    multipart uploads of) only the results prefix, not the whole bucket as CDK's default grant."""

    def __init__(self, *, bucket: s3.IBucket, prefix: str, results_prefix: str) -> None:
        super().__init__(bucket=bucket, prefix=prefix)
        self._statement = iam.PolicyStatement(
            actions=["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"],
            resources=[bucket.arn_for_objects(f"{results_prefix}*")])

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return [self._statement]


class BatchDefinitionBuilder:
    """Builds the definition; `batch_workflow.BatchReclassification` owns the resource, logs and tracing."""

    def __init__(self, scope: Construct, config: SconesConfig, resources: BatchResources) -> None:
        self.scope = scope
        self.config = config
        self.r = resources

    def build(self) -> sfn.IChainable:
        layout = self.config.bucket
        results_folder = sfn.JsonPath.format(f"{layout.batch_results_prefix}{{}}/",
                                             sfn.JsonPath.string_at("$$.Execution.Name"))
        reclassify = sfn.DistributedMap(
            self.scope, "Reclassify objects",
            item_reader=SourcePrefixesReader(bucket=self.r.bucket, prefix=sfn.JsonPath.string_at(f"$.{REQUEST_PREFIX}"),
                                             allowed_prefixes=layout.batch_source_prefixes),
            item_selector={
                "bucket": self.r.bucket.bucket_name,
                "key": sfn.JsonPath.string_at("$$.Map.Item.Value.Key"),
                "etag": sfn.JsonPath.string_at("$$.Map.Item.Value.Etag"),
                "size": sfn.JsonPath.number_at("$$.Map.Item.Value.Size"),
                REQUEST_PUBLISH: sfn.JsonPath.string_at(f"$.{REQUEST_PUBLISH}"),
            },
            # EXPRESS children: about 12 transitions per object would cost ~$300 per million objects
            # as Standard; Express charges per request and duration. At-least-once is harmless here:
            # classifying and quarantining are idempotent, and a repeated routing event carries the
            # same idempotency key.
            map_execution_type=sfn.StateMachineType.EXPRESS,
            max_concurrency=self.config.batch.max_concurrency,
            tolerated_failure_percentage=self.config.batch.tolerated_failure_percentage,
            label=MAP_LABEL,
            result_writer_v2=ResultsPrefixWriter(bucket=self.r.bucket, prefix=results_folder,
                                                 results_prefix=layout.batch_results_prefix),
            result_path="$.map_run",
        )
        reclassify.item_processor(self._create_item_processor())
        summarize = self._create_summary_step(results_folder)
        complete = sfn.Pass(self.scope, "Map run complete", parameters={
            **self._ending("SUCCEEDED"), "map_run.$": "$.map_run"})
        # A Fail state may not raise a `States.*` error (ASL reserves them): the map run's own error
        # (e.g. States.ExceedToleratedFailureThreshold) leads the cause of our BatchFailed.
        failed = sfn.Pass(self.scope, "Map run failed", parameters={
            **self._ending("FAILED"), "error.$": "$.map_error.Error", "cause.$": "$.map_error.Cause",
            "failure.$": "States.Format('{}: {}', $.map_error.Error, $.map_error.Cause)"})
        reclassify.add_catch(failed, errors=["States.ALL"], result_path="$.map_error")
        ended = (
            sfn.Choice(self.scope, "Batch succeeded?")
            .when(sfn.Condition.string_equals("$.status", "SUCCEEDED"),
                  sfn.Pass(self.scope, "Batch summary", output_path="$.summary"))
            .otherwise(sfn.Fail(self.scope, "Batch failed", error=BATCH_FAILED_ERROR, cause_path="$.failure"))
        )
        complete.next(summarize)
        failed.next(summarize)
        summarize.next(ended)
        return (
            sfn.Choice(self.scope, "Valid request?")
            .when(self._valid_request(), reclassify.next(complete))
            .otherwise(sfn.Fail(
                self.scope, "Invalid request", error=INVALID_REQUEST_ERROR,
                cause=(f'the input must be {{"{REQUEST_PREFIX}": a prefix under '
                       f'{" or ".join(repr(p) for p in layout.batch_source_prefixes)}, '
                       f'"{REQUEST_PUBLISH}": true or false}}')))
        )

    def _valid_request(self) -> sfn.Condition:
        prefix, publish = f"$.{REQUEST_PREFIX}", f"$.{REQUEST_PUBLISH}"
        under = [sfn.Condition.string_matches(prefix, _glob_literal(p) + "*")
                 for p in self.config.bucket.batch_source_prefixes]
        return sfn.Condition.and_(
            sfn.Condition.is_present(prefix), sfn.Condition.is_string(prefix), sfn.Condition.or_(*under),
            sfn.Condition.is_present(publish), sfn.Condition.is_boolean(publish))

    def _ending(self, status: str) -> dict:
        return {"status": status, REQUEST_PREFIX + ".$": f"$.{REQUEST_PREFIX}",
                REQUEST_PUBLISH + ".$": f"$.{REQUEST_PUBLISH}"}

    def _create_summary_step(self, results_folder: str) -> tasks.LambdaInvoke:
        step = tasks.LambdaInvoke(
            self.scope, "Summarize batch",
            lambda_function=self.r.summary_fn,
            payload=sfn.TaskInput.from_object({
                "bucket": self.r.bucket.bucket_name,
                "results_folder": results_folder,
                "tolerated_failure_percentage": self.config.batch.tolerated_failure_percentage,
                "run": sfn.JsonPath.entire_payload,
                "execution_id": sfn.JsonPath.string_at(EXECUTION_ID),
            }),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path="$.summary",
            task_timeout=sfn.Timeout.duration(Duration.minutes(15)),
        )
        retry_lambda(step)
        return step

    # -- one object (a child execution) ---------------------------------------------------------
    def _create_item_processor(self) -> sfn.IChainable:
        skipped = sfn.Pass(self.scope, "Skipped", parameters={
            "outcome": OUTCOME_SKIPPED, "bucket.$": "$.bucket", "key.$": "$.key",
            "reason": "a folder marker (its key ends in '/'), not an image"})
        serialize = self._lambda_step("Serialize image", self.r.serialize_fn, {
            "bucket": sfn.JsonPath.string_at("$.bucket"),
            "key": sfn.JsonPath.string_at("$.key"),
            "etag": sfn.JsonPath.string_at("$.etag"),
            "size": sfn.JsonPath.number_at("$.size"),
        }, "$.image")
        classify = self._lambda_step("Classify vehicle", self.r.classify_fn,
                                     {"image": sfn.JsonPath.object_at("$.image")}, "$.classification")
        retry_endpoint(classify, self.config.workflow.endpoint_max_attempts)
        check = self._lambda_step("Check confidence", self.r.check_confidence_fn,
                                  {"classification": sfn.JsonPath.object_at("$.classification")}, "$.decision")
        # Only the decision goes on (not the image bytes); the key/ETag are the ones serialize read.
        keep = sfn.Pass(self.scope, "Keep decision", parameters={
            "bucket.$": "$.decision.bucket", "key.$": "$.decision.key", "etag.$": "$.decision.etag",
            "version_id.$": "$.decision.version_id", "decision.$": "$.decision",
            REQUEST_PUBLISH + ".$": f"$.{REQUEST_PUBLISH}"})
        confident = (
            sfn.Choice(self.scope, "Confident enough?")
            .when(sfn.Condition.boolean_equals("$.decision.confident", True), self._create_routing_path())
            .otherwise(self._outcome("Needs review", OUTCOME_REVIEW, {
                "reason.$": "States.Format('confidence below the threshold {}', $.decision.threshold)"}))
        )
        valid = (
            sfn.Choice(self.scope, "Valid image?")
            .when(sfn.Condition.boolean_equals("$.image.valid", True), classify.next(check).next(keep).next(confident))
            .otherwise(self._create_quarantine_path())
        )
        return (
            sfn.Choice(self.scope, "Folder marker?")
            .when(sfn.Condition.string_matches("$.key", "*/"), skipped)
            .otherwise(serialize.next(valid))
        )

    def _lambda_step(self, name: str, fn: lambda_.IFunction, payload: dict, result_path: str) -> tasks.LambdaInvoke:
        """A Lambda step without Catch: a failure that outlives the retries fails the object's child
        execution, which the map run counts and the ResultWriter lists with its error and cause."""
        return lambda_task(self.scope, name, fn, payload, result_path)

    def _create_routing_path(self) -> sfn.IChainable:
        d = "$.decision"
        publish = tasks.EventBridgePutEvents(
            self.scope, "Publish routing event",
            entries=[tasks.EventBridgePutEventsEntry(
                event_bus=self.r.routing_bus,
                source=ROUTING_EVENT_SOURCE,
                detail_type=ROUTING_EVENT_DETAIL_TYPE,
                detail=sfn.TaskInput.from_object({
                    "bucket": sfn.JsonPath.string_at("$.bucket"),
                    "key": sfn.JsonPath.string_at("$.key"),
                    "etag": sfn.JsonPath.string_at("$.etag"),
                    "version_id": sfn.JsonPath.string_at("$.version_id"),
                    "label": sfn.JsonPath.string_at(f"{d}.label"),
                    "confidence": sfn.JsonPath.number_at(f"{d}.confidence"),
                    "threshold": sfn.JsonPath.number_at(f"{d}.threshold"),
                    "model_version": sfn.JsonPath.string_at(f"{d}.model_version"),
                    # the upload workflow's detail: a batch decision is always the model's
                    "decided_by": DECIDED_BY_MODEL,
                    "model_label": sfn.JsonPath.string_at(f"{d}.label"),
                    "model_confidence": sfn.JsonPath.number_at(f"{d}.confidence"),
                    "idempotency_key": sfn.JsonPath.format("{}#{}", sfn.JsonPath.string_at("$.key"),
                                                           sfn.JsonPath.string_at("$.etag")),
                    "execution_id": sfn.JsonPath.string_at(EXECUTION_ID),
                }),
            )],
            result_selector={"event_id.$": "$.Entries[0].EventId"},
            result_path="$.routing",
        )
        retry_integration(publish)
        routed = self._outcome("Routed", OUTCOME_ROUTED, {"event_id.$": "$.routing.event_id"})
        return (
            sfn.Choice(self.scope, "Publish requested?")
            .when(sfn.Condition.boolean_equals(f"$.{REQUEST_PUBLISH}", True), publish.next(routed))
            .otherwise(self._outcome("Routed without event", OUTCOME_ROUTED, {}))
        )

    def _outcome(self, name: str, outcome: str, extra: dict[str, str]) -> sfn.Pass:
        """A classified object's result: what happened and why (the ResultWriter keeps it)."""
        d = "$.decision"
        return sfn.Pass(self.scope, name, parameters={
            "outcome": outcome,
            "bucket.$": "$.bucket", "key.$": "$.key", "etag.$": "$.etag",
            "label.$": f"{d}.label", "confidence.$": f"{d}.confidence", "threshold.$": f"{d}.threshold",
            "model_version.$": f"{d}.model_version", **extra,
        })

    def _create_quarantine_path(self) -> sfn.IChainable:
        """The upload workflow's quarantine, with serialize's instructions (key scheme, CopySource):
        the copy and its reason record land where the upload workflow would put them."""
        layout = self.config.bucket
        copy, record = quarantine_steps(
            self.scope, self.r.bucket, quarantine_prefix=layout.quarantine_prefix,
            source_prefixes=list(layout.batch_source_prefixes), where="$.image",
            reason_code=sfn.JsonPath.string_at("$.image.reason_code"), record="$.image.reason_record")
        for step in (copy, record):
            retry_integration(step)
        return copy.next(record).next(sfn.Pass(self.scope, "Quarantined", parameters={
            "outcome": OUTCOME_QUARANTINED, **quarantined_output("$.image")}))


def _glob_literal(text: str) -> str:
    """`text` as a literal in a StringMatches pattern ('*' and '\\' escaped)."""
    return text.replace("\\", "\\\\").replace("*", "\\*")
