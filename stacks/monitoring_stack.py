"""The monitoring stack: alarm topic, alarms, one operations dashboard and the scheduled drift check.

What it watches
    * the workflow (state machine, the three Lambdas, the review queue and both DLQs), passed in as
      constructs from the workflow stack (CloudFormation exports; see `build_app`);
    * the SageMaker endpoint, by name (`config.endpoint.name`, variant `AllTraffic`), so this stack
      does not depend on how or by which stack the endpoint is deployed;
    * model quality from our own metrics: the EMF metrics of the check_confidence/serialize Lambdas
      (namespace `config.monitoring.metrics_namespace`, dimension `service`) and the drift metrics the drift
      Lambda publishes (same namespace, dimension `EndpointName`).

Where each part is declared: `alarms` (topic and every alarm), `drift_check` (the scheduled drift
Lambda), `dashboard` (the operations dashboard), `monitoring_metrics` (the metrics they share).
"""
from __future__ import annotations

from aws_cdk import CrossStackReferences, ReferenceStrength, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .alarms import OperationalAlarms, alarm_topic
from .config import SconesConfig
from .dashboard import operations_dashboard
from .data_stack import data_bucket_name
from .drift_check import DriftCheck
from .monitoring_metrics import MonitoringMetrics, WorkflowTargets

__all__ = ["MonitoringStack", "WorkflowTargets"]


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
        self.metrics = MonitoringMetrics(config)

        self.topic = alarm_topic(self, config)
        self.drift_check = DriftCheck(self, config=config, bucket=self.bucket)
        self.drift_fn = self.drift_check.function
        alarms = OperationalAlarms(self, config=config, topic=self.topic, workflow=workflow, metrics=self.metrics,
                                   drift_fn=self.drift_fn)
        self.alarms = alarms.alarms
        self.dashboard = operations_dashboard(self, config=config, workflow=workflow, metrics=self.metrics,
                                              alarms=self.alarms, drift_fn=self.drift_fn)
