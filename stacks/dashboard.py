"""The one operations dashboard: alarm status, the workflow, the endpoint, model quality and human review."""
from __future__ import annotations

from typing import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_lambda as lambda_
from cdk_monitoring_constructs import DefaultDashboardFactory, MonitoringFacade
from constructs import Construct

from scones_contracts import metrics as metric_names
from scones_contracts.classes import CLASS_NAMES
from scones_contracts.endpoint import VARIANT_NAME
from scones_contracts.review import REASON_LOW_CONFIDENCE, REVIEW_REASONS

from .config import SconesConfig
from .functions import service_name
from .monitoring_metrics import SAGEMAKER_INSTANCE_NAMESPACE, MonitoringMetrics, WorkflowTargets


def operations_dashboard(scope: Construct, *, config: SconesConfig, workflow: WorkflowTargets,
                         metrics: MonitoringMetrics, alarms: Sequence[cw.IAlarm],
                         drift_fn: lambda_.IFunction) -> cw.Dashboard:
    """`<project>-operations`, built with cdk-monitoring-constructs' facade (`DashboardFactory`, `Monitoring`)."""
    wf, c = workflow, config
    factory = DefaultDashboardFactory(
        scope, "DashboardFactory", dashboard_name_prefix=c.resource_name("operations"),
        create_dashboard=True, create_summary_dashboard=False, create_alarm_dashboard=False,
    )
    facade = MonitoringFacade(scope, "Monitoring", dashboard_factory=factory)
    facade.add_widget(cw.AlarmStatusWidget(alarms=list(alarms), title="Alarms", width=24,
                                           height=2 + (len(alarms) + 3) // 4))

    # The workflow: the facade's standard Step Functions / Lambda / SQS segments (graphs only, the
    # alarms are ours).
    facade.add_large_header("Image-routing workflow")
    facade.monitor_step_function(state_machine=wf.state_machine, human_readable_name="Image routing")
    for package, fn in wf.functions():
        facade.monitor_lambda_function(lambda_function=fn, human_readable_name=package.replace("_", " ").capitalize(),
                                       is_iterator=False)
    facade.monitor_lambda_function(lambda_function=drift_fn, human_readable_name="Drift check", is_iterator=False)
    facade.monitor_sqs_queue(queue=wf.trigger_dlq, human_readable_name="Upload trigger DLQ")

    facade.add_large_header(f"SageMaker endpoint {c.endpoint.name} ({VARIANT_NAME})")
    for widget in _endpoint_widgets(c, metrics):
        facade.add_widget(widget)
    facade.add_large_header("Model quality")
    for widget in _model_quality_widgets(c, metrics):
        facade.add_widget(widget)
    facade.add_large_header("Human review")
    facade.add_widget(_review_widgets(c, metrics))
    return factory.dashboard


def _review_widgets(config: SconesConfig, metrics: MonitoringMetrics) -> cw.Row:
    """Reviews decided, time to decision, reviewer agreement with the model on low-confidence items,
    and the live accuracy of automatic routing from audits (with its alarm bound)."""
    c, m = config, metrics
    return cw.Row(
        cw.GraphWidget(title="Reviews decided", width=6, stacked=True, left=[
            m.review_api_metric(metric_names.REVIEWS_DECIDED, reason, label=reason) for reason in REVIEW_REASONS]),
        cw.GraphWidget(title="Time to decision", width=6, left=[
            m.review_api_metric(metric_names.REVIEW_DECISION_SECONDS, REASON_LOW_CONFIDENCE, statistic=s,
                                label=f"low confidence {s}") for s in ("p50", "p90")]),
        cw.GraphWidget(title="Reviewer agrees with the model (low confidence)", width=6, left=[
            m.review_api_metric(metric_names.REVIEWER_AGREED_WITH_MODEL, REASON_LOW_CONFIDENCE, statistic="Average",
                                period=Duration.hours(1), label="agreement (hourly)")]),
        cw.GraphWidget(title=f"Live accuracy from audits ({c.review.live_accuracy_window_hours} h)", width=6,
                       left=[m.live_accuracy()],
                       left_annotations=[cw.HorizontalAnnotation(value=c.review.live_accuracy_alarm_bound,
                                                                 label="alarm")]),
    )


def _endpoint_widgets(config: SconesConfig, metrics: MonitoringMetrics) -> list[cw.IWidget]:
    m = metrics.endpoint_metric
    latency = {f"{p}": m("ModelLatency", statistic=p) for p in ("p50", "p90", "p99")}
    return [cw.Row(
        cw.GraphWidget(title="Invocations", width=6, left=[
            m("Invocations", label="Invocations"), m("InvocationsPerInstance", label="Invocations per instance")]),
        cw.GraphWidget(title="ModelLatency (ms; the metric is in µs)", width=6, left=[
            cw.MathExpression(expression=f"{p} / 1000", using_metrics={p: metric}, label=f"ModelLatency {p} (ms)")
            for p, metric in latency.items()],
            left_annotations=[cw.HorizontalAnnotation(value=config.monitoring.model_latency_alarm_ms,
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


def _model_quality_widgets(config: SconesConfig, metrics: MonitoringMetrics) -> list[cw.IWidget]:
    c, m = config, metrics
    serialize = {metric_names.SERVICE_DIMENSION: service_name(c, "serialize")}
    return [
        cw.Row(
            cw.GraphWidget(title="Predictions by label", width=6, stacked=True, left=[
                m.confidence_metric(metric_names.prediction_metric_name(label), label=label)
                for label in CLASS_NAMES]),
            cw.GraphWidget(title="Top confidence", width=6, left=[
                m.confidence_metric(metric_names.TOP_CONFIDENCE, statistic=s, label=f"TopConfidence {s}")
                for s in ("Average", "p10")],
                left_annotations=[cw.HorizontalAnnotation(value=c.decision.threshold,
                                                          label="routing threshold")]),
            cw.GraphWidget(title="Low-confidence share (hourly)", width=6, left=[m.low_confidence_share()],
                           left_annotations=[cw.HorizontalAnnotation(value=c.monitoring.low_confidence_alarm_share,
                                                                     label="alarm")]),
            cw.GraphWidget(title="Uploads and quarantine", width=6, left=[
                m.own_metric(metric_names.IMAGES_RECEIVED, serialize, label="Images received"),
                m.own_metric(metric_names.IMAGES_QUARANTINED, serialize, label="Images quarantined")]),
        ),
        cw.Row(
            cw.GraphWidget(title=f"Drift vs training baseline ({c.drift.window_hours} h window)", width=8, left=[
                m.drift_metric(metric_names.DRIFT_CONFIDENCE_PSI, label="Confidence PSI"),
                m.drift_metric(metric_names.DRIFT_CLASS_MIX_SHIFT, label="Class-mix shift (TVD)")],
                left_annotations=[cw.HorizontalAnnotation(value=c.drift.psi_alarm_threshold,
                                                          label="PSI alarm")]),
            cw.GraphWidget(title="Captured records in the window", width=8, left=[
                m.drift_metric(metric_names.CAPTURED_RECORDS, label="Valid records"),
                m.drift_metric(metric_names.CAPTURE_BAD_RECORDS, label="Bad records")],
                left_annotations=[cw.HorizontalAnnotation(value=c.drift.min_records,
                                                          label="min records for drift")]),
            cw.GraphWidget(title="Captured traffic confidence", width=8, left=[
                m.drift_metric(metric_names.CAPTURE_MEAN_CONFIDENCE, label="Mean confidence"),
                m.drift_metric(metric_names.CAPTURE_LOW_CONFIDENCE_SHARE, label="Low-confidence share")]),
        ),
    ]
