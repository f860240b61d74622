"""The monitoring stack: alarm topic, alarms, one operations dashboard and the scheduled drift check.

What it watches
    * the workflow (state machine, the three Lambdas, the review queue and both DLQs), passed in as
      constructs from the workflow stack (CloudFormation exports; see `build_app`);
    * the SageMaker endpoint, by name (`config.endpoint_name`, variant `AllTraffic`), so this stack
      does not depend on how or by which stack the endpoint is deployed;
    * model quality from our own metrics: the EMF metrics of the filter/serialize Lambdas
      (namespace `config.metrics_namespace`, dimension `service`) and the drift metrics the drift
      Lambda publishes (same namespace, dimension `EndpointName`).

The drift check
    An EventBridge schedule runs `lambdas/drift` every `drift_schedule_hours` over the last
    `drift_window_hours` of data capture (`s3://<data bucket>/<capture_prefix><endpoint_name>/...`,
    where SageMaker writes `<endpoint>/<variant>/YYYY/MM/DD/HH/*.jsonl` under the capture prefix) and
    compares it with the deployed model's training baseline at `s3://<data bucket>/<drift_baseline_key>`
    (default `models/baseline.json`). The training writes `baseline.json` into `model.tar.gz`
    (training/artifact.py); when the model stack's evaluation gate accepts a model it publishes that
    `baseline.json` at `drift_baseline_key` (its BaselineUri), so the check always compares with the
    deployed model. The key may also name a `model.tar.gz` holding `baseline.json`. Until the object
    exists every run fails on purpose (drift/handler.py) and the drift-check errors alarm says so.

Every alarm notifies the alarm topic on ALARM and on OK; `treat_missing_data` is chosen per alarm and
the reason is next to it.
"""
from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, CrossStackReferences, Duration, ReferenceStrength, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from cdk_monitoring_constructs import DefaultDashboardFactory, MonitoringFacade
from constructs import Construct

from lambdas.filter.decision import label_metric_name

from .config import SconesConfig
from .functions import product_function
from .data_stack import data_bucket_name, data_object_arn_finding
from .nag import acknowledge

# The endpoint's single production variant (set by the model stack).
ENDPOINT_VARIANT = "AllTraffic"
# The classes of the model, in output order (as the classify function's CLASS_NAMES).
CLASS_NAMES = ("bicycle", "motorcycle")
SAGEMAKER_NAMESPACE = "AWS/SageMaker"
# Instance metrics (CPU/memory/disk) of SageMaker endpoints live in their own namespace.
SAGEMAKER_INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"
FIVE_MINUTES = Duration.minutes(5)
LOW_CONFIDENCE_PERIOD = Duration.hours(1)
DRIFT_TIMEOUT = Duration.minutes(5)
DRIFT_MEMORY_MB = 512


@dataclass(frozen=True)
class WorkflowTargets:
    """The workflow constructs the monitoring stack watches (all from the workflow stack)."""

    state_machine: sfn.IStateMachine
    serialize_fn: lambda_.IFunction
    classify_fn: lambda_.IFunction
    filter_fn: lambda_.IFunction
    review_queue: sqs.IQueue
    review_dlq: sqs.IQueue
    trigger_dlq: sqs.IQueue

    @classmethod
    def of(cls, workflow) -> "WorkflowTargets":
        return cls(state_machine=workflow.state_machine, serialize_fn=workflow.serialize_fn,
                   classify_fn=workflow.classify_fn, filter_fn=workflow.filter_fn,
                   review_queue=workflow.review_queue, review_dlq=workflow.review_dlq,
                   trigger_dlq=workflow.trigger_dlq)


def service_name(config: SconesConfig, package: str) -> str:
    """The Powertools `service` dimension of a workflow function (its POWERTOOLS_SERVICE_NAME)."""
    return f"{config.project_name}-{package}"


class MonitoringStack(Stack):
    """Alarms -> SNS topic, the operations dashboard, and the scheduled drift check."""

    def __init__(self, scope: Construct, construct_id: str, *, config: SconesConfig,
                 workflow: WorkflowTargets, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # STRONG (Fn::ImportValue), chosen on purpose: a weak Fn::GetStackOutput value is only re-read
        # when this stack is updated, so a watched resource replaced under the same logical id would
        # leave an unchanged monitoring template (skipped by `cdk deploy`) and alarms silently watching
        # a dead name. An export in use fails the workflow deploy loudly instead (to remove a watched
        # resource: drop it here first, deploy, then remove it from the workflow).
        CrossStackReferences.of(self).consume(ReferenceStrength.STRONG)
        self.config = config
        self.workflow = workflow
        self.bucket = s3.Bucket.from_bucket_name(self, "DataBucket", data_bucket_name(self, config))
        self.alarms: list[cw.Alarm] = []

        self.topic = self._create_topic()
        self.drift_fn = self._create_drift_function()
        self.drift_rule = self._create_drift_schedule()

        self._workflow_alarms()
        self._endpoint_alarms()
        self._model_quality_alarms()
        self.dashboard = self._create_dashboard()

    # ------------------------------------------------------------------------------------ topic
    def _create_topic(self) -> sns.Topic:
        # A customer managed key: CloudWatch can only publish to an encrypted topic if the key policy
        # lets cloudwatch.amazonaws.com use the key, which the AWS managed alias/aws/sns cannot do.
        key = kms.Key(self, "AlarmTopicKey", enable_key_rotation=True,
                      description="Encrypts the Scones Unlimited alarm topic",
                      # it only protects notifications in transit through SNS: nothing to keep after destroy
                      removal_policy=RemovalPolicy.DESTROY)
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToPublishToTheEncryptedTopic",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],  # in a key policy "*" means this key
        ))
        topic = sns.Topic(self, "AlarmTopic", display_name="Scones Unlimited alarms",
                          master_key=key, enforce_ssl=True)
        # The SSL-only topic policy replaces SNS's default policy, so allow CloudWatch alarms of this
        # account (and only those: confused-deputy conditions) to publish.
        topic.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsOfThisAccount",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "StringEquals": {"aws:SourceAccount": self.account},
                "ArnLike": {"aws:SourceArn": self.format_arn(service="cloudwatch", resource="alarm",
                                                             resource_name="*",
                                                             arn_format=ArnFormat.COLON_RESOURCE_NAME)},
            },
        ))
        if self.config.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(self.config.alarm_email))
        self.alarm_action = cw_actions.SnsAction(topic)
        return topic

    def _alarm(self, construct_id: str, *, name: str, description: str, metric: cw.IMetric, threshold: float,
               comparison: cw.ComparisonOperator, evaluation_periods: int, datapoints_to_alarm: int | None = None,
               missing: cw.TreatMissingData) -> cw.Alarm:
        alarm = cw.Alarm(
            self, construct_id,
            alarm_name=self.config.resource_name(name),
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm or evaluation_periods,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(self.alarm_action)
        alarm.add_ok_action(self.alarm_action)
        self.alarms.append(alarm)
        return alarm

    # ------------------------------------------------------------------------- workflow alarms
    def _workflow_alarms(self) -> None:
        wf, ge = self.workflow, cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        # Every failed or timed-out execution is an uploaded image that was not routed: alarm at once.
        # No executions -> no datapoints -> nothing failed (NOT_BREACHING).
        self._alarm("ExecutionsFailedAlarm", name="workflow-executions-failed",
                    description="An image-routing execution failed (its image was neither routed nor queued for "
                                "review). Inspect the failed execution's history in Step Functions.",
                    metric=wf.state_machine.metric_failed(period=FIVE_MINUTES, statistic="Sum"),
                    threshold=1, comparison=ge, evaluation_periods=1, missing=cw.TreatMissingData.NOT_BREACHING)
        self._alarm("ExecutionsTimedOutAlarm", name="workflow-executions-timed-out",
                    description=f"An image-routing execution exceeded its {self.config.execution_timeout_minutes}-"
                                "minute timeout (typically endpoint retries with backoff). Check the endpoint.",
                    metric=wf.state_machine.metric_timed_out(period=FIVE_MINUTES, statistic="Sum"),
                    threshold=1, comparison=ge, evaluation_periods=1, missing=cw.TreatMissingData.NOT_BREACHING)

        # Lambda errors/throttles: the state machine retries them, so one blip is absorbed (and a run
        # that still fails raises the alarm above at once). Alarm when they persist: in 2 of 3 five-minute
        # periods. No invocations -> no datapoints -> no errors (NOT_BREACHING).
        for package, fn in (("serialize", wf.serialize_fn), ("classify", wf.classify_fn), ("filter", wf.filter_fn)):
            title = package.capitalize()
            self._alarm(f"{title}ErrorsAlarm", name=f"{package}-errors",
                        description=f"The {package} function keeps failing (errors in 2 of the last 3 five-minute "
                                    "periods). See its log group and X-Ray traces.",
                        metric=fn.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                        threshold=1, comparison=ge, evaluation_periods=3, datapoints_to_alarm=2,
                        missing=cw.TreatMissingData.NOT_BREACHING)
            self._alarm(f"{title}ThrottlesAlarm", name=f"{package}-throttles",
                        description=f"The {package} function keeps being throttled (2 of the last 3 five-minute "
                                    "periods): raise the account's Lambda concurrency or reserve some for it.",
                        metric=fn.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
                        threshold=1, comparison=ge, evaluation_periods=3, datapoints_to_alarm=2,
                        missing=cw.TreatMissingData.NOT_BREACHING)

        # Queues: SQS stops publishing metrics for a queue that has been inactive for six hours even if
        # messages are still in it, so missing data must neither clear nor raise the alarm: IGNORE keeps
        # the last state (an unattended DLQ stays in ALARM until it is really drained).
        max_age = self.config.review_queue_max_age_minutes
        self._alarm("ReviewQueueAgeAlarm", name="review-queue-age",
                    description=f"A low-confidence image has waited more than {max_age} minutes for human review.",
                    metric=wf.review_queue.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES,
                                                                                    statistic="Maximum"),
                    threshold=max_age * 60, comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluation_periods=1, missing=cw.TreatMissingData.IGNORE)
        for construct_id, name, queue, what in (
                ("ReviewDlqDepthAlarm", "review-dlq-depth", wf.review_dlq,
                 "Review messages were received 5 times without being deleted and moved to the review DLQ."),
                ("TriggerDlqDepthAlarm", "trigger-dlq-depth", wf.trigger_dlq,
                 "EventBridge could not start the workflow for an upload (after its retries); the upload "
                 "event is in the trigger DLQ and its image was never processed.")):
            self._alarm(construct_id, name=name, description=f"{what} Inspect and redrive the messages.",
                        metric=queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES,
                                                                                   statistic="Maximum"),
                        threshold=0, comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                        evaluation_periods=1, missing=cw.TreatMissingData.IGNORE)

    # ------------------------------------------------------------------------- endpoint alarms
    def endpoint_metric(self, metric_name: str, statistic: str = "Sum", period: Duration = FIVE_MINUTES,
                        namespace: str = SAGEMAKER_NAMESPACE, label: str | None = None) -> cw.Metric:
        return cw.Metric(namespace=namespace, metric_name=metric_name, statistic=statistic, period=period,
                         label=label,
                         dimensions_map={"EndpointName": self.config.endpoint_name, "VariantName": ENDPOINT_VARIANT})

    def _endpoint_alarms(self) -> None:
        # Server-side errors; the classify step retries them, so alarm when they persist (2 of 3 periods).
        # No traffic -> no datapoints -> no errors (NOT_BREACHING).
        self._alarm("Endpoint5xxAlarm", name="endpoint-5xx",
                    description=f"The endpoint {self.config.endpoint_name} keeps returning 5XX errors (2 of the "
                                "last 3 five-minute periods). Check its CloudWatch logs and instance health.",
                    metric=self.endpoint_metric("Invocation5XXErrors"),
                    threshold=1, comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    evaluation_periods=3, datapoints_to_alarm=2, missing=cw.TreatMissingData.NOT_BREACHING)
        # ModelLatency is reported in MICROSECONDS: model_latency_alarm_ms (default 500 ms) * 1000 =
        # 500000 µs. p90 for 15 minutes (3 of 3 periods), so a few cold or large requests do not page.
        latency_ms = self.config.model_latency_alarm_ms
        self._alarm("EndpointModelLatencyAlarm", name="endpoint-model-latency",
                    description=f"p90 ModelLatency of {self.config.endpoint_name} above {latency_ms} ms "
                                f"({latency_ms * 1000} µs) for 15 minutes: scale out or check the instance type.",
                    metric=self.endpoint_metric("ModelLatency", statistic="p90"),
                    threshold=latency_ms * 1000, comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluation_periods=3, missing=cw.TreatMissingData.NOT_BREACHING)

    # -------------------------------------------------------------------- model-quality alarms
    def own_metric(self, metric_name: str, dimensions: dict[str, str], statistic: str = "Sum",
                   period: Duration = FIVE_MINUTES, label: str | None = None) -> cw.Metric:
        return cw.Metric(namespace=self.config.metrics_namespace, metric_name=metric_name, statistic=statistic,
                         period=period, label=label, dimensions_map=dimensions)

    def filter_metric(self, metric_name: str, statistic: str = "Sum", period: Duration = FIVE_MINUTES,
                      label: str | None = None) -> cw.Metric:
        # The filter function emits every metric in the dimension set [service] (and, per model version,
        # [service, ModelVersion]); [service] is the aggregate over model versions.
        return self.own_metric(metric_name, {"service": service_name(self.config, "filter")}, statistic, period, label)

    def drift_metric(self, metric_name: str, statistic: str = "Maximum", label: str | None = None) -> cw.Metric:
        # Maximum: a retried run re-publishes the same window's figures, which must not add up.
        return self.own_metric(metric_name, {"EndpointName": self.config.endpoint_name}, statistic,
                               Duration.hours(self.config.drift_schedule_hours), label)

    def low_confidence_share(self, period: Duration = LOW_CONFIDENCE_PERIOD) -> cw.MathExpression:
        # share = low / (low + confident), judged only from low_confidence_min_predictions predictions per
        # period on (a handful of images cannot make a rate); below that the expression is 0.
        minimum = self.config.low_confidence_min_predictions
        return cw.MathExpression(
            expression=f"IF((low + confident) >= {minimum}, low / (low + confident), 0)",
            using_metrics={"low": self.filter_metric("LowConfidencePredictions", period=period),
                           "confident": self.filter_metric("ConfidentPredictions", period=period)},
            label="Low-confidence share", period=period,
        )

    def gated_drift_psi(self) -> cw.MathExpression:
        # The drift Lambda publishes the PSI even for a handful of records (flagged as an insufficient
        # sample in its report); alarm on it only when the window held drift_min_records records.
        return cw.MathExpression(
            expression=f"IF(records >= {self.config.drift_min_records}, psi, 0)",
            using_metrics={"psi": self.drift_metric("DriftConfidencePSI"),
                           "records": self.drift_metric("CapturedRecords")},
            label="Confidence PSI (enough records)", period=Duration.hours(self.config.drift_schedule_hours),
        )

    def _model_quality_alarms(self) -> None:
        share = self.config.low_confidence_alarm_share
        # One hour of predictions; no predictions -> no data -> nothing to judge (NOT_BREACHING).
        self._alarm("LowConfidenceShareAlarm", name="low-confidence-share",
                    description=f"More than {share:.0%} of the last hour's predictions were below the confidence "
                                f"threshold {self.config.confidence_threshold} (at least "
                                f"{self.config.low_confidence_min_predictions} predictions): the review queue fills "
                                "up and the model may be drifting.",
                    metric=self.low_confidence_share(), threshold=share,
                    comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluation_periods=1,
                    missing=cw.TreatMissingData.NOT_BREACHING)
        hours = self.config.drift_schedule_hours
        # Each datapoint already summarises drift_window_hours of traffic, so one breaching run is enough.
        # Missing data = the check did not run or found no traffic; failures raise the drift-check errors
        # alarm instead, so NOT_BREACHING here.
        self._alarm("DriftPsiAlarm", name="drift-confidence-psi",
                    description=f"Confidence PSI of the last {self.config.drift_window_hours} h of captured traffic "
                                f"vs the training baseline above {self.config.drift_psi_alarm_threshold} (from at "
                                f"least {self.config.drift_min_records} records): the model sees different data "
                                "than it was trained on; consider retraining.",
                    metric=self.gated_drift_psi(), threshold=self.config.drift_psi_alarm_threshold,
                    comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluation_periods=1,
                    missing=cw.TreatMissingData.NOT_BREACHING)
        # Two consecutive scheduled runs failed (a single failure is retried by Lambda and the next run
        # recomputes the whole window). A missing baseline object fails every run on purpose.
        self._alarm("DriftCheckErrorsAlarm", name="drift-check-errors",
                    description="The scheduled drift check failed in two consecutive runs (e.g. the baseline "
                                f"s3://<data bucket>/{self.config.drift_baseline_key} is missing or invalid). "
                                "See the drift function's log group.",
                    metric=self.drift_fn.metric_errors(period=Duration.hours(hours), statistic="Sum"),
                    threshold=1, comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    evaluation_periods=2, missing=cw.TreatMissingData.NOT_BREACHING)

    # ------------------------------------------------------------------------------ drift check
    def drift_environment(self) -> dict[str, str]:
        c = self.config
        return {
            "CAPTURE_BUCKET": self.bucket.bucket_name,
            "CAPTURE_PREFIX": self.capture_prefix,
            "BASELINE_S3_URI": f"s3://{self.bucket.bucket_name}/{c.drift_baseline_key}",
            "WINDOW_HOURS": str(c.drift_window_hours),
            # the filter's threshold, so the capture's low-confidence share matches live routing
            "THRESHOLD": str(c.confidence_threshold),
            "METRICS_NAMESPACE": c.metrics_namespace,
            "ENDPOINT_NAME": c.endpoint_name,
            "PSI_THRESHOLD": str(c.drift_psi_alarm_threshold),
            "MIN_RECORDS": str(c.drift_min_records),
            "CLASS_NAMES": ",".join(CLASS_NAMES),
        }

    @property
    def capture_prefix(self) -> str:
        """Where SageMaker writes this endpoint's capture: <capture_prefix><endpoint>/<variant>/YYYY/..."""
        return f"{self.config.capture_prefix}{self.config.endpoint_name}/"

    def _create_drift_function(self) -> lambda_.Function:
        c = self.config
        # Only boto3 (no Powertools layer, no X-Ray: it calls nothing but S3 and CloudWatch once an hour).
        fn = product_function(
            self, "DriftCheck", config=c, package="drift", memory_mb=DRIFT_MEMORY_MB, timeout=DRIFT_TIMEOUT,
            tracing=False, environment=self.drift_environment(),
            role_description="Least-privilege role of the scheduled drift check",
            description=f"Scheduled drift check of the {c.endpoint_name} data capture against the training baseline",
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
            resources=[self.bucket.arn_for_objects(c.drift_baseline_key)]))
        role.add_to_policy(iam.PolicyStatement(
            sid="PublishDriftMetrics", actions=["cloudwatch:PutMetricData"], resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": c.metrics_namespace}}))
        acknowledge(role, "IAM5",
                    f"cloudwatch:PutMetricData supports no resource-level permissions (AWS requires Resource '*'); "
                    f"the statement is limited to the {c.metrics_namespace} namespace by a cloudwatch:namespace "
                    "condition.", ["Resource::*"])
        acknowledge(role, "IAM5",
                    "The drift check reads every data-capture object SageMaker writes for this endpoint (keys are "
                    "<variant>/YYYY/MM/DD/HH/<uuid>.jsonl, unknown in advance) and nothing else of the bucket.",
                    [data_object_arn_finding(c, f"{self.capture_prefix}*")])
        return fn

    def _create_drift_schedule(self) -> events.Rule:
        hours = self.config.drift_schedule_hours
        rule = events.Rule(
            self, "DriftCheckSchedule",
            description=f"Runs the drift check every {hours} h over the last {self.config.drift_window_hours} h "
                        "of data capture",
            schedule=events.Schedule.rate(Duration.hours(hours)),
        )
        # The scheduled event's `time` is the window's end, so a retry recomputes the same window.
        rule.add_target(targets.LambdaFunction(self.drift_fn, retry_attempts=2,
                                               max_event_age=Duration.hours(hours)))
        return rule

    # ------------------------------------------------------------------------------- dashboard
    def _create_dashboard(self) -> cw.Dashboard:
        wf, c = self.workflow, self.config
        factory = DefaultDashboardFactory(
            self, "DashboardFactory", dashboard_name_prefix=c.resource_name("operations"),
            create_dashboard=True, create_summary_dashboard=False, create_alarm_dashboard=False,
        )
        facade = MonitoringFacade(self, "Monitoring", dashboard_factory=factory)
        facade.add_widget(cw.AlarmStatusWidget(alarms=self.alarms, title="Alarms", width=24,
                                               height=2 + (len(self.alarms) + 3) // 4))

        # The workflow: the facade's standard Step Functions / Lambda / SQS segments (graphs only, the
        # alarms above are ours).
        facade.add_large_header("Image-routing workflow")
        facade.monitor_step_function(state_machine=wf.state_machine, human_readable_name="Image routing")
        for name, fn in (("Serialize", wf.serialize_fn), ("Classify", wf.classify_fn),
                         ("Filter", wf.filter_fn), ("Drift check", self.drift_fn)):
            facade.monitor_lambda_function(lambda_function=fn, human_readable_name=name, is_iterator=False)
        facade.monitor_sqs_queue_with_dlq(queue=wf.review_queue, dead_letter_queue=wf.review_dlq,
                                          human_readable_name="Review queue")
        facade.monitor_sqs_queue(queue=wf.trigger_dlq, human_readable_name="Upload trigger DLQ")

        facade.add_large_header(f"SageMaker endpoint {c.endpoint_name} ({ENDPOINT_VARIANT})")
        for widget in self._endpoint_widgets():
            facade.add_widget(widget)
        facade.add_large_header("Model quality")
        for widget in self._model_quality_widgets():
            facade.add_widget(widget)
        return factory.dashboard

    def _endpoint_widgets(self) -> list[cw.IWidget]:
        m = self.endpoint_metric
        latency = {f"{p}": m("ModelLatency", statistic=p) for p in ("p50", "p90", "p99")}
        return [cw.Row(
            cw.GraphWidget(title="Invocations", width=6, left=[
                m("Invocations", label="Invocations"), m("InvocationsPerInstance", label="Invocations per instance")]),
            cw.GraphWidget(title="ModelLatency (ms; the metric is in µs)", width=6, left=[
                cw.MathExpression(expression=f"{p} / 1000", using_metrics={p: metric}, label=f"ModelLatency {p} (ms)")
                for p, metric in latency.items()],
                left_annotations=[cw.HorizontalAnnotation(value=self.config.model_latency_alarm_ms,
                                                          label="p90 alarm")]),
            cw.GraphWidget(title="Invocation errors", width=6, left=[
                m("Invocation4XXErrors", label="4XX (client)"), m("Invocation5XXErrors", label="5XX (server)")]),
            cw.GraphWidget(title="Instances and utilisation", width=6, left=[
                # InvocationsPerInstance is Invocations normalised by the variant's instance count.
                cw.MathExpression(expression="IF(perinstance > 0, invocations / perinstance, 0)",
                                  using_metrics={"invocations": m("Invocations"),
                                                 "perinstance": m("InvocationsPerInstance")},
                                  label="Instances in service (when invoked)")],
                right=[m("CPUUtilization", statistic="Average", namespace=SAGEMAKER_INSTANCE_NAMESPACE,
                         label="CPUUtilization %"),
                       m("MemoryUtilization", statistic="Average", namespace=SAGEMAKER_INSTANCE_NAMESPACE,
                         label="MemoryUtilization %")]),
        )]

    def _model_quality_widgets(self) -> list[cw.IWidget]:
        c = self.config
        serialize = {"service": service_name(c, "serialize")}
        return [
            cw.Row(
                cw.GraphWidget(title="Predictions by label", width=6, stacked=True, left=[
                    self.filter_metric(label_metric_name(label), label=label) for label in CLASS_NAMES]),
                cw.GraphWidget(title="Top confidence", width=6, left=[
                    self.filter_metric("TopConfidence", statistic=s, label=f"TopConfidence {s}")
                    for s in ("Average", "p10")],
                    left_annotations=[cw.HorizontalAnnotation(value=c.confidence_threshold,
                                                              label="routing threshold")]),
                cw.GraphWidget(title="Low-confidence share (hourly)", width=6, left=[self.low_confidence_share()],
                               left_annotations=[cw.HorizontalAnnotation(value=c.low_confidence_alarm_share,
                                                                         label="alarm")]),
                cw.GraphWidget(title="Uploads and quarantine", width=6, left=[
                    self.own_metric("ImagesReceived", serialize, label="Images received"),
                    self.own_metric("ImagesQuarantined", serialize, label="Images quarantined")]),
            ),
            cw.Row(
                cw.GraphWidget(title=f"Drift vs training baseline ({c.drift_window_hours} h window)", width=8, left=[
                    self.drift_metric("DriftConfidencePSI", label="Confidence PSI"),
                    self.drift_metric("DriftClassMixShift", label="Class-mix shift (TVD)")],
                    left_annotations=[cw.HorizontalAnnotation(value=c.drift_psi_alarm_threshold,
                                                              label="PSI alarm")]),
                cw.GraphWidget(title="Captured records in the window", width=8, left=[
                    self.drift_metric("CapturedRecords", label="Valid records"),
                    self.drift_metric("CaptureBadRecords", label="Bad records")],
                    left_annotations=[cw.HorizontalAnnotation(value=c.drift_min_records,
                                                              label="min records for drift")]),
                cw.GraphWidget(title="Captured traffic confidence", width=8, left=[
                    self.drift_metric("CaptureMeanConfidence", label="Mean confidence"),
                    self.drift_metric("CaptureLowConfidenceShare", label="Low-confidence share")]),
            ),
        ]

