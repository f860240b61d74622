"""The scheduled drift check: `lambdas/drift` over the endpoint's captured traffic, run by an
EventBridge schedule.

Every `drift_schedule_hours` it reads the last `drift_window_hours` of data capture
(`s3://<data bucket>/<capture_prefix><endpoint_name>/...`, where SageMaker writes
`<endpoint>/<variant>/YYYY/MM/DD/HH/*.jsonl` under the capture prefix) and compares it with the
deployed model's training baseline at `s3://<data bucket>/<drift_baseline_key>` (default
`models/baseline.json`). The training writes `baseline.json` into `model.tar.gz`
(training/artifact.py); when the model stack's evaluation gate accepts a model it publishes that
`baseline.json` at `drift_baseline_key` (its BaselineUri), so the check always compares with the
deployed model. The key may also name a `model.tar.gz` holding `baseline.json`. Until the object
exists every run fails on purpose (lambdas/drift/handler.py) and the drift-check errors alarm says so.
"""
from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from scones_contracts.capture import endpoint_capture_prefix
from scones_contracts.classes import CLASS_NAMES

from .config import SconesConfig
from .data_stack import data_object_arn_finding
from .functions import product_function
from .nag import acknowledge

DRIFT_TIMEOUT = Duration.minutes(5)
DRIFT_MEMORY_MB = 512


class DriftCheck:
    """The `DriftCheck` function (its role reads only this endpoint's capture and the baseline) and the
    `DriftCheckSchedule` rule, declared in `scope` (the monitoring stack; see `TrainingJob` for why not a
    child Construct)."""

    def __init__(self, scope: Construct, *, config: SconesConfig, bucket: s3.IBucket) -> None:
        self.scope, self.config, self.bucket = scope, config, bucket
        self.function = self._function()
        self.schedule = self._schedule()

    @property
    def capture_prefix(self) -> str:
        """Where SageMaker writes this endpoint's capture: <capture_prefix><endpoint>/<variant>/YYYY/..."""
        return endpoint_capture_prefix(self.config.bucket.capture_prefix, self.config.endpoint.name)

    def environment(self) -> dict[str, str]:
        """The drift handler's settings (lambdas/drift reads each of them)."""
        c = self.config
        return {
            "CAPTURE_BUCKET": self.bucket.bucket_name,
            "CAPTURE_PREFIX": self.capture_prefix,
            "BASELINE_S3_URI": f"s3://{self.bucket.bucket_name}/{c.bucket.baseline_key}",
            "WINDOW_HOURS": str(c.drift.window_hours),
            # the routing threshold, so the capture's low-confidence share matches live routing
            "THRESHOLD": str(c.decision.threshold),
            "POWERTOOLS_METRICS_NAMESPACE": c.monitoring.metrics_namespace,
            "ENDPOINT_NAME": c.endpoint.name,
            "PSI_THRESHOLD": str(c.drift.psi_alarm_threshold),
            "MIN_RECORDS": str(c.drift.min_records),
            "CLASS_NAMES": ",".join(CLASS_NAMES),
        }

    def _function(self) -> lambda_.Function:
        c = self.config
        # Only boto3 (no Powertools layer, no X-Ray: it calls nothing but S3 and CloudWatch, once per scheduled run).
        fn = product_function(
            self.scope, "DriftCheck", config=c, package="drift", memory_mb=DRIFT_MEMORY_MB, timeout=DRIFT_TIMEOUT,
            tracing=False, environment=self.environment(),
            role_description="Least-privilege role of the scheduled drift check",
            description=f"Scheduled drift check of the {c.endpoint.name} data capture against the training baseline",
        )
        role = fn.role
        capture_objects = self.bucket.arn_for_objects(f"{self.capture_prefix}*")
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadCapturedTraffic", actions=["s3:GetObject"], resources=[capture_objects]))
        role.add_to_policy(iam.PolicyStatement(
            sid="ListCapturedTrafficOnly", actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{self.capture_prefix}*"]}}))
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadTrainingBaseline", actions=["s3:GetObject"],
            resources=[self.bucket.arn_for_objects(c.bucket.baseline_key)]))
        role.add_to_policy(iam.PolicyStatement(
            sid="PublishDriftMetrics", actions=["cloudwatch:PutMetricData"], resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": c.monitoring.metrics_namespace}}))
        acknowledge(role, "IAM5",
                    f"cloudwatch:PutMetricData supports no resource-level permissions (AWS requires Resource '*'); "
                    f"the statement is limited to the {c.monitoring.metrics_namespace} namespace by a cloudwatch:namespace "
                    "condition.", ["Resource::*"])
        acknowledge(role, "IAM5",
                    "The drift check reads every data-capture object SageMaker writes for this endpoint (keys are "
                    "<variant>/YYYY/MM/DD/HH/<uuid>.jsonl, unknown in advance) and nothing else of the bucket.",
                    [data_object_arn_finding(c, f"{self.capture_prefix}*")])
        return fn

    def _schedule(self) -> events.Rule:
        hours = self.config.drift.schedule_hours
        rule = events.Rule(
            self.scope, "DriftCheckSchedule",
            description=f"Runs the drift check every {hours} h over the last {self.config.drift.window_hours} h "
                        "of data capture",
            schedule=events.Schedule.rate(Duration.hours(hours)),
        )
        # The scheduled event's `time` is the window's end, so a retry recomputes the same window.
        rule.add_target(targets.LambdaFunction(self.function, retry_attempts=2,
                                               max_event_age=Duration.hours(hours)))
        return rule
