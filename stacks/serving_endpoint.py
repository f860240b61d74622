"""Serving: the SageMaker model built from the gate-accepted artifact, its endpoint config with
data capture, and the endpoint (blue/green with auto-rollback on alarms, autoscaling)."""
from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from scones_contracts.endpoint import VARIANT_NAME
from scones_contracts.model_artifact import INFERENCE_ENTRY_POINT

from .config import SconesConfig
from .endpoint_scaling import EndpointScaling, scaling_properties
from .framework_images import FrameworkImages
from .log_groups import endpoint_log_group_name
from .sagemaker_role import sagemaker_execution_role

SCALE_IN_COOLDOWN = Duration.minutes(5)
SCALE_OUT_COOLDOWN = Duration.minutes(1)
BLUE_GREEN_PROVISIONING_MARGIN_SECONDS = 30 * 60


class ServingEndpoint:
    """The endpoint `config.endpoint.name` serving `model_data_url`, declared in `scope` (the model stack).

    Not a child Construct on purpose: a construct level would rename every logical ID below it,
    i.e. replace the live endpoint. Declares `ModelExecutionRole` (which may also describe the two
    rollback alarms), `Model`, `EndpointConfig`, the two rollback alarms, `Endpoint` and
    `EndpointScalableTarget` (target tracking on invocations per instance), and the
    `EndpointScalingRelease`/`EndpointScalingRestore` pair around the endpoint that lets the
    instance type change while autoscaling is registered (`endpoint_scaling`).
    """

    def __init__(self, scope: Construct, *, config: SconesConfig, bucket: s3.IBucket, images: FrameworkImages,
                 model_data_url: str, log_groups: dict[str, Construct]) -> None:
        self.scope, self.stack, self.config, self.bucket, self.images = scope, Stack.of(scope), config, bucket, images
        self.log_groups = log_groups
        self.role = self._role()
        self.model = self._model(model_data_url)
        self.endpoint_config = self._endpoint_config()
        self.rollback_alarms = self._rollback_alarms()
        self._allow_reading_rollback_alarms()
        self.endpoint = self._endpoint()
        self.scaling = self._autoscaling()

    def _role(self) -> iam.Role:
        c, objects = self.config, self.bucket.arn_for_objects
        return sagemaker_execution_role(
            self.scope, "ModelExecutionRole",
            description="SageMaker execution role of the endpoint: read models, write captured traffic",
            statements=[
                iam.PolicyStatement(sid="ReadModels", actions=["s3:GetObject"],
                                    resources=[objects(f"{c.bucket.model_prefix}*")]),
                iam.PolicyStatement(sid="WriteDataCapture", actions=["s3:PutObject"],
                                    resources=[objects(f"{c.bucket.capture_prefix}*")]),
            ],
            images=self.images, image_scope="inference",
            log_group=endpoint_log_group_name(c.endpoint.name), stream_pattern="*",
            wildcards={
                objects(f"{c.bucket.model_prefix}*"):
                    "Loads the accepted model from <model_prefix><training job name>/model.tar.gz; the key "
                    "changes with every retraining, so the models prefix is the bound.",
                objects(f"{c.bucket.capture_prefix}*"):
                    "Data capture writes <capture_prefix><endpoint>/<variant>/yyyy/mm/dd/hh/<uuid>.jsonl; "
                    "SageMaker picks the keys.",
            })

    def _model(self, model_data_url: str) -> sagemaker.CfnModel:
        model = sagemaker.CfnModel(
            self.scope, "Model",
            execution_role_arn=self.role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=self.images.image("inference"),
                model_data_url=model_data_url,
                environment={
                    "SAGEMAKER_PROGRAM": INFERENCE_ENTRY_POINT,
                    # The training ships code/inference.py inside model.tar.gz, which SageMaker
                    # extracts to /opt/ml/model.
                    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                    "SAGEMAKER_REGION": self.stack.region,
                },
            ),
        )
        model.node.add_dependency(self.role)  # policy attached before SageMaker validates the model
        return model

    def _endpoint_config(self) -> sagemaker.CfnEndpointConfig:
        c = self.config
        capture = c.endpoint.capture_sampling_percentage
        return sagemaker.CfnEndpointConfig(
            self.scope, "EndpointConfig",
            production_variants=[sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT_NAME,
                model_name=self.model.attr_model_name,
                initial_instance_count=c.endpoint.initial_instance_count,
                instance_type=c.endpoint.instance_type,
                initial_variant_weight=1.0,
            )],
            data_capture_config=sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                enable_capture=capture > 0,
                initial_sampling_percentage=capture,
                # SageMaker appends /<endpoint>/<variant>/yyyy/mm/dd/hh/ (what the drift check reads).
                destination_s3_uri=f"s3://{self.bucket.bucket_name}/{c.bucket.capture_prefix.rstrip('/')}",
                capture_options=[sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                                 sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output")],
                # JSON responses are stored as text; the image requests (not listed) as base64.
                capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                    json_content_types=["application/json"]),
            ),
        )

    def _rollback_alarms(self) -> list[cloudwatch.Alarm]:
        c = self.config
        dimensions = {"EndpointName": c.endpoint.name, "VariantName": VARIANT_NAME}
        errors = cloudwatch.Alarm(
            self.scope, "Invocation5XXErrorsAlarm",
            alarm_name=f"{c.endpoint.name}-invocation-5xx",
            alarm_description="Endpoint returns 5XX errors; trips the blue/green auto-rollback during a model update",
            metric=cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="Invocation5XXErrors",
                                     dimensions_map=dimensions, statistic="Sum", period=Duration.minutes(1)),
            threshold=c.rollout.rollback_5xx_errors,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=2,
            datapoints_to_alarm=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        latency = cloudwatch.Alarm(
            self.scope, "ModelLatencyAlarm",
            alarm_name=f"{c.endpoint.name}-model-latency-p99",
            alarm_description=(f"p99 ModelLatency above {c.rollout.rollback_model_latency_ms} ms (the metric is in "
                               "microseconds); trips the blue/green auto-rollback during a model update"),
            metric=cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="ModelLatency",
                                     dimensions_map=dimensions, statistic="p99", period=Duration.minutes(1),
                                     unit=cloudwatch.Unit.MICROSECONDS),
            threshold=c.rollout.rollback_model_latency_ms * 1000,  # ms -> microseconds
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        return [errors, latency]

    def _allow_reading_rollback_alarms(self) -> None:
        """SageMaker reads the auto-rollback alarms with the endpoint's execution role (AWS docs,
        "Auto-Rollback Configuration and Monitoring"): without cloudwatch:DescribeAlarms on them a
        blue/green update cannot watch them. DescribeAlarms takes alarm ARNs as resources (metric
        alarms; only composite alarms need '*'), so the grant names exactly these two."""
        self.role.add_to_policy(iam.PolicyStatement(
            sid="DescribeRollbackAlarms", actions=["cloudwatch:DescribeAlarms"],
            resources=[alarm.alarm_arn for alarm in self.rollback_alarms]))

    def _endpoint(self) -> sagemaker.CfnEndpoint:
        c = self.config
        baking = c.rollout.baking_minutes * 60
        endpoint = sagemaker.CfnEndpoint(
            self.scope, "Endpoint",
            endpoint_name=c.endpoint.name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            deployment_config=sagemaker.CfnEndpoint.DeploymentConfigProperty(
                blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                    # All traffic moves to the new fleet, then the alarms watch it for the baking
                    # period; an alarm in that window sends all traffic back to the old fleet.
                    traffic_routing_configuration=sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                        type="ALL_AT_ONCE", wait_interval_in_seconds=baking),
                    termination_wait_in_seconds=0,
                    maximum_execution_timeout_in_seconds=min(28800, max(600, baking + BLUE_GREEN_PROVISIONING_MARGIN_SECONDS)),
                ),
                auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                    alarms=[sagemaker.CfnEndpoint.AlarmProperty(alarm_name=a.alarm_name) for a in self.rollback_alarms]),
            ),
            # Keep the instance count autoscaling chose when a new model rolls out (don't reset it to
            # the initial count); data capture changes in the new config do apply.
            retain_all_variant_properties=True,
            exclude_retained_variant_properties=[
                sagemaker.CfnEndpoint.VariantPropertyProperty(variant_property_type="DataCaptureConfig")],
        )
        # Its log group, with retention, exists before the endpoint and is deleted after it.
        endpoint.node.add_dependency(self.log_groups["EndpointLogRetention"])
        return endpoint

    def _autoscaling(self) -> appscaling.ScalableTarget:
        c = self.config
        # SageMaker variants scale through Application Auto Scaling's service-linked role; naming it
        # (rather than letting CDK create an unused role) also lets CloudFormation create it if missing.
        scaling_role = iam.Role.from_role_arn(
            self.scope, "SageMakerAutoScalingServiceLinkedRole",
            self.stack.format_arn(service="iam", region="", resource="role",
                                  resource_name="aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
                                                "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"),
            mutable=False)
        target = appscaling.ScalableTarget(
            self.scope, "EndpointScalableTarget",
            role=scaling_role,
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint.attr_endpoint_name}/variant/{VARIANT_NAME}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=c.endpoint.min_capacity,
            max_capacity=c.endpoint.max_capacity,
        )
        policy = target.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=c.endpoint.target_invocations_per_instance,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=SCALE_IN_COOLDOWN,
            scale_out_cooldown=SCALE_OUT_COOLDOWN,
        )
        # An instance-type change deregisters the variant before the endpoint update and registers it after.
        self.instance_type_change = EndpointScaling(
            self.scope, config=c, endpoint=self.endpoint,
            properties=scaling_properties(c, policy.node.default_child, SCALE_IN_COOLDOWN, SCALE_OUT_COOLDOWN))
        return target
