"""The model stack: training data and code in S3, a SageMaker training job that runs on
`cdk deploy`, an evaluation gate, and the real-time endpoint that serves the accepted model.

Flow on every deploy::

    BucketDeployment  data/sample/... -> s3://<bucket>/<training_data_prefix><training_data_version>/
    s3_assets.Asset   the training code set (training/, scones_contracts/, scones_imaging/) -> sourcedir.tar.gz
                      (deterministic bytes, custom content hash)
    Custom::SageMakerTrainingJob (Provider framework: on_event + is_complete)
        job name = <project>-<data version>-<12 hex of sha256(code, data, hyperparameters, image, instance)>
        on_event     CreateTrainingJob (or adopt the existing job of that name)
        is_complete  DescribeTrainingJob until Completed; Failed/Stopped fail the deploy with FailureReason;
                     reads metadata.json from the job's model.tar.gz; evaluation gate; copies the accepted
                     artifact to <model_prefix><job name>/model.tar.gz
                     (+ baseline.json beside it and at drift_baseline_key for the drift check)
    CfnModel (ModelDataUrl = the gate's output) -> CfnEndpointConfig (data capture) -> CfnEndpoint
        (blue/green, all at once + baking period, auto-rollback on 5XX / p99 ModelLatency alarms)
    Application Auto Scaling target tracking on SageMakerVariantInvocationsPerInstance

Where each part is declared: `training_runtime` (will the training finish on the instance type in
time? synth refuses one it would not), `sourcedir` (which files, their hash, the tarball), `job_identity`
(the job name and hyperparameters), `framework_images` (the PyTorch image mapping),
`training_job.TrainingJob` (data upload, SageMaker role, provider, custom resource, gate),
`serving_endpoint.ServingEndpoint` (model, endpoint config, endpoint, rollback alarms, autoscaling).

Model version
    The training writes its own `model_version` (r9-<hash>, in metadata.json, returned by the
    custom resource as the ModelVersion attribute). The version handed to the workflow stack
    (`self.model_version`) is the training job name, which is known at synth time: a deploy-time
    value would become a cross-stack export, and CloudFormation refuses to change an export that
    another stack imports, i.e. it would block every retraining. The job name also names the
    promoted artifact (<model_prefix><job name>/model.tar.gz), so each maps to the other.
"""
from __future__ import annotations

from aws_cdk import CfnOutput, CrossStackReferences, ReferenceStrength, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .config import SconesConfig
from .data_stack import data_bucket_name
from .framework_images import FrameworkImages
from .job_identity import training_job_name
from .log_groups import TRAINING_JOBS_LOG_GROUP, endpoint_log_group_name, sagemaker_log_groups
from .serving_endpoint import ServingEndpoint
from scones_contracts.source_files import files_sha256

from .sourcedir import DATA_FORMAT, SOURCEDIR_FORMAT, sample_data_files, sample_image_count, training_source_files
from .training_job import WAIT_BUDGET_SECONDS, TrainingJob
from .training_runtime import check_training_fits


class ModelStack(Stack):
    """Training on deploy, evaluation gate, and the endpoint that serves the accepted model."""

    def __init__(self, scope: Construct, construct_id: str, *, config: SconesConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        # Referenced by its deterministic name (see data_stack), so no export ties the stacks together.
        self.bucket = s3.Bucket.from_bucket_name(self, "DataBucket", data_bucket_name(self, config))
        self.endpoint_name = config.endpoint.name

        images = FrameworkImages(self, config)
        # Refuses an instance type the training cannot finish on in time (before anything is declared).
        self.training_estimate = check_training_fits(config, sample_image_count(), WAIT_BUDGET_SECONDS)
        code_files = training_source_files()
        self.code_hash = files_sha256(code_files, SOURCEDIR_FORMAT)
        self.data_hash = files_sha256(sample_data_files(), DATA_FORMAT)
        self.training_job_name = training_job_name(config, self.code_hash, self.data_hash)
        self.model_version = self.training_job_name

        # The log groups SageMaker writes to (fixed names), created or adopted with retention.
        self.log_groups = sagemaker_log_groups(self, config=config, groups={
            "TrainingJobsLogRetention": (TRAINING_JOBS_LOG_GROUP, True),
            "EndpointLogRetention": (endpoint_log_group_name(config.endpoint.name), False)})
        self.training = TrainingJob(self, config=config, bucket=self.bucket, images=images,
                                    job_name=self.training_job_name, code_files=code_files,
                                    code_hash=self.code_hash, data_hash=self.data_hash, log_groups=self.log_groups)
        self.serving = ServingEndpoint(self, config=config, bucket=self.bucket, images=images,
                                       model_data_url=self.training.model_data_url, log_groups=self.log_groups)
        # CfnEndpoint's Ref is the endpoint ARN (SageMaker lower-cases the name in it). Consumers get a
        # strong (export/import) reference: the endpoint cannot be removed while the workflow invokes it.
        # The ARN only changes if endpoint_name changes (CloudFormation then refuses to update the export
        # while the workflow imports it); retraining never changes it.
        CrossStackReferences.of(self.serving.endpoint).produce(ReferenceStrength.STRONG)
        self.endpoint_arn = self.serving.endpoint.ref
        self._outputs()

    def _outputs(self) -> None:
        job = self.training.resource
        CfnOutput(self, "EndpointName", value=self.serving.endpoint.attr_endpoint_name)
        CfnOutput(self, "TrainingJobName", value=self.training_job_name)
        CfnOutput(self, "ModelDataUrl", value=job.get_att_string("ModelDataUrl"))
        CfnOutput(self, "ModelVersion", value=job.get_att_string("ModelVersion"),
                  description="model_version from the artifact's metadata.json")
        CfnOutput(self, "ValidationAccuracy", value=job.get_att_string("ValidationAccuracy"))
