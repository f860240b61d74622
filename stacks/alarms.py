"""The alarm topic and every operational alarm (workflow, endpoint, model quality).

Every alarm notifies the alarm topic on ALARM and on OK; `treat_missing_data` is chosen per alarm
and the reason is next to it.
"""
from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from scones_contracts import metrics as metric_names
from scones_contracts.review import REASON_PROCESSING_FAILED

from .config import SconesConfig
from .monitoring_metrics import FIVE_MINUTES, MonitoringMetrics, WorkflowTargets


def alarm_topic(scope: Construct, config: SconesConfig) -> sns.Topic:
    """`AlarmTopic`, encrypted with its own key (`AlarmTopicKey`), SSL-only, publishable by this account's
    CloudWatch alarms only; e-mail subscription when `alarm_email` is set."""
    stack = Stack.of(scope)
    # A customer managed key: CloudWatch can only publish to an encrypted topic if the key policy
    # lets cloudwatch.amazonaws.com use the key, which the AWS managed alias/aws/sns cannot do.
    key = kms.Key(scope, "AlarmTopicKey", enable_key_rotation=True,
                  description="Encrypts the Scones Unlimited alarm topic",
                  # it only protects notifications in transit through SNS: nothing to keep after destroy
                  removal_policy=RemovalPolicy.DESTROY)
    key.add_to_resource_policy(iam.PolicyStatement(
        sid="AllowCloudWatchAlarmsToPublishToTheEncryptedTopic",
        principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions=["kms:Decrypt", "kms:GenerateDataKey*"],
        resources=["*"],  # in a key policy "*" means this key
    ))
    topic = sns.Topic(scope, "AlarmTopic", display_name="Scones Unlimited alarms",
                      master_key=key, enforce_ssl=True)
    # The SSL-only topic policy replaces SNS's default policy, so allow CloudWatch alarms of this
    # account (and only those: confused-deputy conditions) to publish.
    topic.add_to_resource_policy(iam.PolicyStatement(
        sid="AllowCloudWatchAlarmsOfThisAccount",
        principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions=["sns:Publish"],
        resources=[topic.topic_arn],
        conditions={
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": stack.format_arn(service="cloudwatch", resource="alarm",
                                                          resource_name="*",
                                                          arn_format=ArnFormat.COLON_RESOURCE_NAME)},
        },
    ))
    if config.monitoring.alarm_email:
        topic.add_subscription(subscriptions.EmailSubscription(config.monitoring.alarm_email))
    return topic


class OperationalAlarms:
    """Every alarm of the product, declared in `scope` (the monitoring stack), all notifying `topic`."""

    def __init__(self, scope: Construct, *, config: SconesConfig, topic: sns.ITopic, workflow: WorkflowTargets,
                 metrics: MonitoringMetrics, drift_fn: lambda_.IFunction) -> None:
        self.scope, self.config, self.workflow, self.metrics, self.drift_fn = scope, config, workflow, metrics, drift_fn
        self.action = cw_actions.SnsAction(topic)
        self.alarms: list[cw.Alarm] = []
        self._workflow_alarms()
        self._endpoint_alarms()
        self._model_quality_alarms()

    def _alarm(self, construct_id: str, *, name: str, description: str, metric: cw.IMetric, threshold: float,
               comparison: cw.ComparisonOperator, evaluation_periods: int, datapoints_to_alarm: int | None = None,
               missing: cw.TreatMissingData) -> cw.Alarm:
        alarm = cw.Alarm(
            self.scope, construct_id,
            alarm_name=self.config.resource_name(name),
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm or evaluation_periods,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(self.action)
        alarm.add_ok_action(self.action)
        self.alarms.append(alarm)
        return alarm

    def _workflow_alarms(self) -> None:
        wf, ge = self.workflow, cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        # Every failed or timed-out execution is an uploaded image that was not routed: alarm at once.
        # No executions -> no datapoints -> nothing failed (NOT_BREACHING).
        self._alarm("ExecutionsFailedAlarm", name="workflow-executions-failed",
                    description="An image-routing execution failed: its review item could not be written, or a step "
                                "after a reviewer's decision failed (the decision is in the review table). Inspect "
                                "the failed execution's history in Step Functions.",
                    metric=wf.state_machine.metric_failed(period=FIVE_MINUTES, statistic="Sum"),
                    threshold=1, comparison=ge, evaluation_periods=1, missing=cw.TreatMissingData.NOT_BREACHING)
        self._alarm("ExecutionsTimedOutAlarm", name="workflow-executions-timed-out",
                    description=f"An image-routing execution exceeded its {self.config.execution_timeout_seconds} s "
                                "timeout (the review timeout plus processing_timeout_minutes). Check the endpoint "
                                "and the review functions.",
                    metric=wf.state_machine.metric_timed_out(period=FIVE_MINUTES, statistic="Sum"),
                    threshold=1, comparison=ge, evaluation_periods=1, missing=cw.TreatMissingData.NOT_BREACHING)

        # Lambda errors/throttles: the state machine retries them, so one blip is absorbed (and a run
        # that still fails raises the alarm above at once). Alarm when they persist: in 2 of 3 five-minute
        # periods. No invocations -> no datapoints -> no errors (NOT_BREACHING).
        for package, fn in wf.functions():
            title, slug = package.title().replace("_", ""), package.replace("_", "-")
            self._alarm(f"{title}ErrorsAlarm", name=f"{slug}-errors",
                        description=f"The {package} function keeps failing (errors in 2 of the last 3 five-minute "
                                    "periods). See its log group and X-Ray traces.",
                        metric=fn.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                        threshold=1, comparison=ge, evaluation_periods=3, datapoints_to_alarm=2,
                        missing=cw.TreatMissingData.NOT_BREACHING)
            self._alarm(f"{title}ThrottlesAlarm", name=f"{slug}-throttles",
                        description=f"The {package} function keeps being throttled (2 of the last 3 five-minute "
                                    "periods): raise the account's Lambda concurrency or reserve some for it.",
                        metric=fn.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
                        threshold=1, comparison=ge, evaluation_periods=3, datapoints_to_alarm=2,
                        missing=cw.TreatMissingData.NOT_BREACHING)

        # Human review. An expired review is a driver nobody routed within review_timeout_hours, and a
        # processing failure is an image the workflow could not classify (it waits for a human now):
        # both alarm at once. No reviews -> no datapoints -> nothing wrong (NOT_BREACHING).
        self._alarm("ReviewsExpiredAlarm", name="reviews-expired",
                    description=f"A review waited {self.config.review.timeout_hours:g} h (review_timeout_hours) "
                                "without a decision: its driver was never routed (outcome review_expired, image "
                                "kept). Add reviewers or check the review console.",
                    metric=self.metrics.reviews_expired(), threshold=1, comparison=ge, evaluation_periods=1,
                    missing=cw.TreatMissingData.NOT_BREACHING)
        self._alarm("ProcessingFailuresAlarm", name="processing-failures",
                    description="The workflow could not process an image (a step failed after its retries); it waits "
                                "in the review console with the error. See the execution history.",
                    metric=self.metrics.review_metric("open_review", metric_names.REVIEW_ITEMS_OPENED,
                                                      REASON_PROCESSING_FAILED),
                    threshold=1, comparison=ge, evaluation_periods=1, missing=cw.TreatMissingData.NOT_BREACHING)

        # The trigger DLQ: SQS stops publishing metrics for a queue that has been inactive for six hours
        # even if messages are still in it, so missing data must neither clear nor raise the alarm: IGNORE
        # keeps the last state (an unattended DLQ stays in ALARM until it is really drained).
        self._alarm("TriggerDlqDepthAlarm", name="trigger-dlq-depth",
                    description="EventBridge could not start the workflow for an upload (after its retries); the "
                                "upload event is in the trigger DLQ and its image was never processed. Inspect and "
                                "redrive the messages.",
                    metric=wf.trigger_dlq.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES,
                                                                                       statistic="Maximum"),
                    threshold=0, comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluation_periods=1, missing=cw.TreatMissingData.IGNORE)

    def _endpoint_alarms(self) -> None:
        m = self.metrics
        # Server-side errors; the classify step retries them, so alarm when they persist (2 of 3 periods).
        # No traffic -> no datapoints -> no errors (NOT_BREACHING).
        self._alarm("Endpoint5xxAlarm", name="endpoint-5xx",
                    description=f"The endpoint {self.config.endpoint.name} keeps returning 5XX errors (2 of the "
                                "last 3 five-minute periods). Check its CloudWatch logs and instance health.",
                    metric=m.endpoint_metric("Invocation5XXErrors"),
                    threshold=1, comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    evaluation_periods=3, datapoints_to_alarm=2, missing=cw.TreatMissingData.NOT_BREACHING)
        # ModelLatency is reported in MICROSECONDS: model_latency_alarm_ms (default 500 ms) * 1000 =
        # 500000 µs. p90 for 15 minutes (3 of 3 periods), so a few cold or large requests do not page.
        latency_ms = self.config.monitoring.model_latency_alarm_ms
        self._alarm("EndpointModelLatencyAlarm", name="endpoint-model-latency",
                    description=f"p90 ModelLatency of {self.config.endpoint.name} above {latency_ms} ms "
                                f"({latency_ms * 1000} µs) for 15 minutes: scale out or check the instance type.",
                    metric=m.endpoint_metric("ModelLatency", statistic="p90"),
                    threshold=latency_ms * 1000, comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluation_periods=3, missing=cw.TreatMissingData.NOT_BREACHING)

    def _model_quality_alarms(self) -> None:
        c = self.config
        share = c.monitoring.low_confidence_alarm_share
        # One hour of predictions; no predictions -> no data -> nothing to judge (NOT_BREACHING).
        self._alarm("LowConfidenceShareAlarm", name="low-confidence-share",
                    description=f"More than {share:.0%} of the last hour's predictions were below the confidence "
                                f"threshold {c.decision.threshold} (at least "
                                f"{c.monitoring.low_confidence_min_predictions} predictions): the review queue fills "
                                "up and the model may be drifting.",
                    metric=self.metrics.low_confidence_share(), threshold=share,
                    comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluation_periods=1,
                    missing=cw.TreatMissingData.NOT_BREACHING)
        r = c.review
        # Ground truth: reviewers' labels on the audit sample of automatic decisions. One window is one
        # datapoint; fewer audits than the minimum read as 1 (live_accuracy), and no audits at all are
        # missing data: nothing to judge (NOT_BREACHING).
        self._alarm("LiveAccuracyAlarm", name="live-accuracy",
                    description=f"Reviewers confirmed fewer than {r.live_accuracy_alarm_bound:.0%} of the audited "
                                f"automatic routing decisions in the last {r.live_accuracy_window_hours} h (from at "
                                f"least {r.live_accuracy_min_samples} audits): drivers are being misrouted; retrain "
                                "with the reviewed labels or raise the threshold.",
                    metric=self.metrics.live_accuracy(), threshold=r.live_accuracy_alarm_bound,
                    comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD, evaluation_periods=1,
                    missing=cw.TreatMissingData.NOT_BREACHING)
        hours = c.drift.schedule_hours
        # Each datapoint already summarises drift_window_hours of traffic, so one breaching run is enough.
        # Missing data = the check did not run or found no traffic; failures raise the drift-check errors
        # alarm instead, so NOT_BREACHING here.
        self._alarm("DriftPsiAlarm", name="drift-confidence-psi",
                    description=f"Confidence PSI of the last {c.drift.window_hours} h of captured traffic "
                                f"vs the training baseline above {c.drift.psi_alarm_threshold} (from at "
                                f"least {c.drift.min_records} records): the model sees different data "
                                "than it was trained on; consider retraining.",
                    metric=self.metrics.gated_drift_psi(), threshold=c.drift.psi_alarm_threshold,
                    comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluation_periods=1,
                    missing=cw.TreatMissingData.NOT_BREACHING)
        # Two consecutive scheduled runs failed (a single failure is retried by Lambda and the next run
        # recomputes the whole window). A missing baseline object fails every run on purpose.
        self._alarm("DriftCheckErrorsAlarm", name="drift-check-errors",
                    description="The scheduled drift check failed in two consecutive runs (e.g. the baseline "
                                f"s3://<data bucket>/{c.bucket.baseline_key} is missing or invalid). "
                                "See the drift function's log group.",
                    metric=self.drift_fn.metric_errors(period=Duration.hours(hours), statistic="Sum"),
                    threshold=1, comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    evaluation_periods=2, missing=cw.TreatMissingData.NOT_BREACHING)
