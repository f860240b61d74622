"""The metrics the alarms and the dashboard watch, built once from the config, and the workflow
constructs they are about (`WorkflowTargets`).

* the endpoint's: namespace `AWS/SageMaker`, dimensions EndpointName + VariantName;
* the workflow functions' own EMF metrics: namespace `config.monitoring.metrics_namespace`, dimension
  `service` (the function's POWERTOOLS_SERVICE_NAME, `functions.service_name`);
* the drift check's: same namespace, dimension `EndpointName`, one datapoint per scheduled run.
"""
from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn

from scones_contracts import metrics as metric_names
from scones_contracts.endpoint import VARIANT_NAME
from scones_contracts.review import REASON_AUDIT, WAITING_REASONS

from .config import SconesConfig
from .functions import service_name
SAGEMAKER_NAMESPACE = "AWS/SageMaker"
# Instance metrics (CPU/memory/disk) of SageMaker endpoints live in their own namespace.
SAGEMAKER_INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"
FIVE_MINUTES = Duration.minutes(5)
LOW_CONFIDENCE_PERIOD = Duration.hours(1)


@dataclass(frozen=True)
class WorkflowTargets:
    """The workflow constructs the monitoring stack watches (all from the workflow stack)."""

    state_machine: sfn.IStateMachine
    serialize_fn: lambda_.IFunction
    classify_fn: lambda_.IFunction
    check_confidence_fn: lambda_.IFunction
    open_review_fn: lambda_.IFunction
    expire_review_fn: lambda_.IFunction
    trigger_dlq: sqs.IQueue

    @classmethod
    def of(cls, workflow) -> "WorkflowTargets":
        return cls(state_machine=workflow.state_machine, serialize_fn=workflow.serialize_fn,
                   classify_fn=workflow.classify_fn, check_confidence_fn=workflow.check_confidence_fn,
                   open_review_fn=workflow.open_review_fn, expire_review_fn=workflow.expire_review_fn,
                   trigger_dlq=workflow.trigger_dlq)

    def functions(self) -> tuple[tuple[str, lambda_.IFunction], ...]:
        """(package, function) of every workflow function, in the order the workflow runs them."""
        return (("serialize", self.serialize_fn), ("classify", self.classify_fn),
                ("check_confidence", self.check_confidence_fn), ("open_review", self.open_review_fn),
                ("expire_review", self.expire_review_fn))


class MonitoringMetrics:
    """Metric factories for one configuration (what the alarms and the dashboard share)."""

    def __init__(self, config: SconesConfig) -> None:
        self.config = config

    def endpoint_metric(self, metric_name: str, statistic: str = "Sum", period: Duration = FIVE_MINUTES,
                        namespace: str = SAGEMAKER_NAMESPACE, label: str | None = None) -> cw.Metric:
        return cw.Metric(namespace=namespace, metric_name=metric_name, statistic=statistic, period=period,
                         label=label,
                         dimensions_map={"EndpointName": self.config.endpoint.name, "VariantName": VARIANT_NAME})

    def own_metric(self, metric_name: str, dimensions: dict[str, str], statistic: str = "Sum",
                   period: Duration = FIVE_MINUTES, label: str | None = None) -> cw.Metric:
        return cw.Metric(namespace=self.config.monitoring.metrics_namespace, metric_name=metric_name, statistic=statistic,
                         period=period, label=label, dimensions_map=dimensions)

    def confidence_metric(self, metric_name: str, statistic: str = "Sum", period: Duration = FIVE_MINUTES,
                          label: str | None = None) -> cw.Metric:
        # The check_confidence function emits every metric in the dimension set [service] (and, per model
        # version, [service, ModelVersion]); [service] is the aggregate over model versions.
        dimensions = {metric_names.SERVICE_DIMENSION: service_name(self.config, "check_confidence")}
        return self.own_metric(metric_name, dimensions, statistic, period, label)

    def review_metric(self, package: str, metric_name: str, reason: str, statistic: str = "Sum",
                      period: Duration = FIVE_MINUTES, label: str | None = None) -> cw.Metric:
        # The review functions publish in the dimension set [service, ReviewReason].
        return self.own_metric(metric_name, {metric_names.SERVICE_DIMENSION: service_name(self.config, package),
                                             metric_names.REVIEW_REASON_DIMENSION: reason}, statistic, period, label)

    def reviews_expired(self, period: Duration = FIVE_MINUTES) -> cw.MathExpression:
        """Expired reviews of every waiting reason, summed."""
        using = {f"e{i}": self.review_metric("expire_review", metric_names.REVIEWS_EXPIRED, reason, period=period)
                 for i, reason in enumerate(WAITING_REASONS)}
        return cw.MathExpression(expression=" + ".join(f"FILL({name}, 0)" for name in using), using_metrics=using,
                                 label="Reviews expired", period=period)

    def review_api_metric(self, metric_name: str, reason: str, statistic: str = "Sum",
                          period: Duration = FIVE_MINUTES, label: str | None = None) -> cw.Metric:
        """A metric of the review API's decisions (lambdas/review_api: one record per decision,
        dimension set [service, ReviewReason])."""
        return self.review_metric("review_api", metric_name, reason, statistic, period, label)

    def live_accuracy(self) -> cw.MathExpression:
        """Share of audited automatic decisions the reviewers confirmed (AuditModelCorrect is 1 or 0 per
        audit decision: Sum = confirmed, SampleCount = audited), over live_accuracy_window_hours, judged
        only from live_accuracy_min_samples audits on; below that the expression is 1 (nothing to judge)."""
        r = self.config.review
        period = Duration.hours(r.live_accuracy_window_hours)
        return cw.MathExpression(
            expression=f"IF(audited >= {r.live_accuracy_min_samples}, confirmed / audited, 1)",
            using_metrics={
                "confirmed": self.review_api_metric(metric_names.AUDIT_MODEL_CORRECT, REASON_AUDIT, "Sum", period),
                "audited": self.review_api_metric(metric_names.AUDIT_MODEL_CORRECT, REASON_AUDIT, "SampleCount",
                                                  period)},
            label="Live accuracy of automatic routing (audits)", period=period,
        )

    def drift_metric(self, metric_name: str, statistic: str = "Maximum", label: str | None = None) -> cw.Metric:
        # Maximum: a retried run re-publishes the same window's figures, which must not add up.
        return self.own_metric(metric_name, {metric_names.ENDPOINT_DIMENSION: self.config.endpoint.name}, statistic,
                               Duration.hours(self.config.drift.schedule_hours), label)

    def low_confidence_share(self, period: Duration = LOW_CONFIDENCE_PERIOD) -> cw.MathExpression:
        # share = low / (low + confident), judged only from low_confidence_min_predictions predictions per
        # period on (a handful of images cannot make a rate); below that the expression is 0.
        minimum = self.config.monitoring.low_confidence_min_predictions
        return cw.MathExpression(
            expression=f"IF((low + confident) >= {minimum}, low / (low + confident), 0)",
            using_metrics={"low": self.confidence_metric(metric_names.LOW_CONFIDENCE_PREDICTIONS, period=period),
                           "confident": self.confidence_metric(metric_names.CONFIDENT_PREDICTIONS, period=period)},
            label="Low-confidence share", period=period,
        )

    def gated_drift_psi(self) -> cw.MathExpression:
        # The drift Lambda publishes the PSI even for a handful of records (flagged as an insufficient
        # sample in its report); alarm on it only when the window held drift_min_records records.
        return cw.MathExpression(
            expression=f"IF(records >= {self.config.drift.min_records}, psi, 0)",
            using_metrics={"psi": self.drift_metric(metric_names.DRIFT_CONFIDENCE_PSI),
                           "records": self.drift_metric(metric_names.CAPTURED_RECORDS)},
            label="Confidence PSI (enough records)", period=Duration.hours(self.config.drift.schedule_hours),
        )
