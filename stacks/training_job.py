"""Training on `cdk deploy`: the training data and code in S3, and the `Custom::SageMakerTrainingJob`
resource (CDK Provider framework: `lambdas/training_job` starts the job, polls it and applies the
evaluation gate).

Why a Provider-framework custom resource, not a training state machine
    The model must exist before CloudFormation can create the SageMaker Model, EndpointConfig and
    Endpoint in the same deploy. A custom resource is the only thing CloudFormation itself waits
    on: its attributes (ModelDataUrl, ValidationAccuracy, ModelVersion) feed CfnModel directly,
    a failed job or a model below the bar fails the deploy and rolls it back, and retraining is
    just a changed property. A Step Functions training state machine (`.sync` CreateTrainingJob)
    runs *beside* a deployment: something would have to start it, wait for it and hand the
    model URL back to the stack (a second deploy, or a trigger custom resource that polls the
    execution - i.e. the same custom resource plus a state machine). The Provider framework
    already brings the waiter state machine (is_complete polling, 1 hour budget), so the state
    machine we would write buys nothing here. The cost: one deploy can wait at most an hour
    (CloudFormation's custom-resource limit), so a training must finish within it: the model
    stack refuses at synth an instance type on which the estimate (measured step time per
    instruction set, `training_runtime`) would not fit, and the default one trains in minutes.

Evaluation gate
    The is_complete handler compares metadata.json's validation.accuracy (what the training
    writes into the very artifact the endpoint loads - not a log-scraped metric) with
    min_validation_accuracy. Below the bar it raises a message naming the model version, the
    accuracy and the bar: the custom resource fails, so CfnModel / EndpointConfig / Endpoint are
    never created or updated and CloudFormation rolls back to the previous model. Raising
    min_validation_accuracy re-applies the gate to the existing model without retraining.
    MetricDefinitions also put `validation:accuracy` into the SageMaker console/CloudWatch.
"""
from __future__ import annotations

from aws_cdk import (AssetHashType, BundlingOptions, BundlingOutput, CustomResource, DockerImage, Duration,
                     RemovalPolicy, Stack)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct

from scones_contracts.model_artifact import TRAINING_ENTRY_POINT

from .config import SconesConfig
from .framework_images import FrameworkImages
from .functions import log_retention, product_function
from .log_groups import TRAINING_JOBS_LOG_GROUP
from .job_identity import json_hyperparameter, sagemaker_hyperparameters
from .nag import acknowledge, function_versions_finding, resource_finding
from .sagemaker_role import sagemaker_execution_role
from .sourcedir import SAMPLE_DATA_DIR, TRAINING_DIR, SourceDirBundling

# CloudFormation waits at most 3600 s for a custom resource; the Provider's waiter gets all of it.
PROVIDER_TOTAL_TIMEOUT = Duration.hours(1)
PROVIDER_QUERY_INTERVAL = Duration.seconds(30)
WAIT_BUDGET_SECONDS = 3600 - 90  # is_complete fails with a clear message just before the framework's timeout
PROVIDER_RUNTIME = lambda_.Runtime.PYTHON_3_14  # boto3 only: no wheel or layer ties it to 3.12
# Lines the training logs (training/pipeline.py) that SageMaker turns into job metrics.
METRIC_DEFINITIONS = [
    {"Name": "validation:accuracy", "Regex": r"validation: accuracy ([0-9.]+)"},
    {"Name": "validation:ece", "Regex": r"ECE ([0-9.]+); model"},
]


class TrainingJob:
    """The training job of `job_name` and everything it needs, declared in `scope` (the model stack).

    Not a child Construct on purpose: a construct level would rename every logical ID below it,
    i.e. replace the deployed resources. Declares, in this order: the code asset (`TrainingCode`),
    the training data upload (`TrainingData*`), the SageMaker role (`TrainingJobRole`), the
    provider (`TrainingJobOnEvent`, `TrainingJobIsComplete`, `TrainingJobProvider*`) and the
    custom resource `TrainingJob`, whose `ModelDataUrl` is the gate-accepted artifact.
    """

    def __init__(self, scope: Construct, *, config: SconesConfig, bucket: s3.IBucket, images: FrameworkImages,
                 job_name: str, code_files, code_hash: str, data_hash: str,
                 log_groups: dict[str, Construct]) -> None:
        self.scope, self.stack, self.config, self.bucket = scope, Stack.of(scope), config, bucket
        self.images = images
        self.job_name = job_name
        self.data_version_prefix = f"{config.bucket.training_data_prefix}{config.training.data_version}/"
        self.code_asset = s3_assets.Asset(
            scope, "TrainingCode",
            path=str(TRAINING_DIR),
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=code_hash,
            bundling=BundlingOptions(
                image=DockerImage.from_registry("public.ecr.aws/docker/library/python:3.12-slim"),
                local=SourceDirBundling(code_files),
                output_type=BundlingOutput.SINGLE_FILE,
            ),
        )
        self.data_asset = s3_assets.Asset(scope, "TrainingDataAsset", path=str(SAMPLE_DATA_DIR),
                                          asset_hash_type=AssetHashType.CUSTOM, asset_hash=data_hash)
        self.data_deployment_role, self.data_deployment = self._training_data_deployment()
        self.role = self._role()
        self.on_event_fn, self.is_complete_fn = self._provider_functions()
        self.provider, self.framework_roles = self._provider()
        self.resource = self._custom_resource()
        # SageMaker's one training log group of the account/region: retention set before the job logs.
        self.resource.node.add_dependency(log_groups["TrainingJobsLogRetention"])
        self._acknowledge_findings()

    @property
    def model_data_url(self) -> str:
        """s3 URI of the accepted model.tar.gz (<model_prefix><job name>/model.tar.gz), known at deploy time."""
        return self.resource.get_att_string("ModelDataUrl")

    @property
    def job_arn_pattern(self) -> str:
        """Every training job of this project (names start with '<project>-')."""
        return self.stack.format_arn(service="sagemaker", resource="training-job",
                                     resource_name=f"{self.config.project_name}-*")

    def _training_data_deployment(self) -> tuple[iam.Role, s3deploy.BucketDeployment]:
        scope = self.scope
        role = iam.Role(scope, "TrainingDataDeploymentRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description="Role of CDK's BucketDeployment handler that uploads the training data")
        log_group = logs.LogGroup(scope, "TrainingDataDeploymentLogs", retention=log_retention(self.config),
                                  removal_policy=RemovalPolicy.DESTROY)
        log_group.grant_write(role)
        deployment = s3deploy.BucketDeployment(
            scope, "TrainingData",
            sources=[s3deploy.Source.bucket(self.data_asset.bucket, self.data_asset.s3_object_key)],
            destination_bucket=self.bucket,
            destination_key_prefix=self.data_version_prefix,
            prune=True,  # the prefix is versioned: it holds exactly this version's files
            retain_on_delete=True,  # a new training_data_version leaves the old data for the old model
            output_object_keys=False,
            memory_limit=512,
            role=role,
            log_group=log_group,
        )
        # BucketDeployment grants itself read/write on the whole destination bucket (and read on the
        # asset bucket). This guard confines every object read, write and delete to the data zip it
        # unpacks and to this data version's prefix, so it can never touch uploads, models or captures.
        role.add_to_policy(iam.PolicyStatement(
            sid="OnlyTheTrainingDataPrefix",
            effect=iam.Effect.DENY,
            actions=["s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*", "s3:Abort*"],
            not_resources=[self.bucket.arn_for_objects(f"{self.data_version_prefix}*"),
                           self.data_asset.bucket.arn_for_objects(self.data_asset.s3_object_key)],
        ))
        return role, deployment

    def _role(self) -> iam.Role:
        c, objects = self.config, self.bucket.arn_for_objects
        return sagemaker_execution_role(
            self.scope, "TrainingJobRole",
            description="SageMaker execution role of the training jobs: read data and code, write output",
            statements=[
                iam.PolicyStatement(sid="ReadTrainingData", actions=["s3:GetObject"],
                                    resources=[objects(f"{self.data_version_prefix}*")]),
                iam.PolicyStatement(sid="ListTrainingData", actions=["s3:ListBucket"],
                                    resources=[self.bucket.bucket_arn],
                                    conditions={"StringLike": {"s3:prefix": [f"{self.data_version_prefix}*"]}}),
                iam.PolicyStatement(sid="ReadTrainingCode", actions=["s3:GetObject"],
                                    resources=[self.code_asset.bucket.arn_for_objects(self.code_asset.s3_object_key)]),
                iam.PolicyStatement(sid="WriteTrainingOutput", actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                                    resources=[objects(f"{c.bucket.training_output_prefix}*")]),
            ],
            images=self.images, image_scope="training",
            log_group=TRAINING_JOBS_LOG_GROUP, stream_pattern=f"{c.project_name}-*",
            wildcards={
                objects(f"{self.data_version_prefix}*"):
                    "Reads the training files of this data version, and only those (its own prefix).",
                objects(f"{c.bucket.training_output_prefix}*"):
                    "SageMaker writes each job's model.tar.gz/output.tar.gz under <training_output_prefix>"
                    "<job name>/; the job name changes with every retraining, so the prefix is the bound.",
            })

    def _provider_function(self, construct_id: str, handler: str, environment: dict[str, str]) -> lambda_.Function:
        return product_function(
            self.scope, construct_id, config=self.config, package="training_job", entry=handler,
            runtime=PROVIDER_RUNTIME, memory_mb=256, timeout=Duration.minutes(2), environment=environment,
            role_description=f"Least-privilege role of the training-job provider's {handler} handler",
            description=f"Custom::SageMakerTrainingJob {handler} (starts/polls the training, applies the gate)",
        )

    def _provider_functions(self) -> tuple[lambda_.Function, lambda_.Function]:
        c = self.config
        job_arns = [self.job_arn_pattern]
        on_event = self._provider_function("TrainingJobOnEvent", "on_event", {})
        on_event.add_to_role_policy(iam.PolicyStatement(
            actions=["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
                     "sagemaker:AddTags"],
            resources=job_arns))
        on_event.add_to_role_policy(iam.PolicyStatement(
            actions=["iam:PassRole"], resources=[self.role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}))
        is_complete = self._provider_function("TrainingJobIsComplete", "is_complete",
                                              {"WAIT_BUDGET_SECONDS": str(WAIT_BUDGET_SECONDS)})
        is_complete.add_to_role_policy(iam.PolicyStatement(
            actions=["sagemaker:DescribeTrainingJob"], resources=job_arns))
        is_complete.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects(f"{c.bucket.training_output_prefix}*")]))
        published = [self.bucket.arn_for_objects(f"{c.bucket.model_prefix}*")]
        if not c.bucket.baseline_key.startswith(c.bucket.model_prefix):
            published.append(self.bucket.arn_for_objects(c.bucket.baseline_key))
        is_complete.add_to_role_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=published))
        return on_event, is_complete

    def _provider(self) -> tuple[cr.Provider, tuple[iam.Role, iam.Role]]:
        scope, retention = self.scope, log_retention(self.config)
        framework_logs = logs.LogGroup(scope, "TrainingJobProviderLogs", retention=retention,
                                       removal_policy=RemovalPolicy.DESTROY)
        waiter_logs = logs.LogGroup(scope, "TrainingJobWaiterLogs", retention=retention,
                                    removal_policy=RemovalPolicy.DESTROY)
        framework_on_event_role = iam.Role(
            scope, "TrainingJobProviderOnEventRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="CDK Provider framework onEvent function of the training-job custom resource")
        framework_waiter_role = iam.Role(
            scope, "TrainingJobProviderWaiterRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="CDK Provider framework isComplete/onTimeout functions of the training-job custom resource")
        for role in (framework_on_event_role, framework_waiter_role):
            framework_logs.grant_write(role)
        provider = cr.Provider(
            scope, "TrainingJobProvider",
            on_event_handler=self.on_event_fn,
            is_complete_handler=self.is_complete_fn,
            query_interval=PROVIDER_QUERY_INTERVAL,
            total_timeout=PROVIDER_TOTAL_TIMEOUT,
            log_group=framework_logs,
            framework_on_event_role=framework_on_event_role,
            framework_complete_and_timeout_role=framework_waiter_role,
            disable_waiter_state_machine_logging=False,
            waiter_state_machine_log_options=cr.LogOptions(destination=waiter_logs, level=sfn.LogLevel.ALL,
                                                           include_execution_data=True),
        )
        return provider, (framework_on_event_role, framework_waiter_role)

    def _custom_resource(self) -> CustomResource:
        c = self.config
        bucket = self.bucket.bucket_name
        hyperparameters = {k: json_hyperparameter(v) for k, v in sagemaker_hyperparameters(c).items()}
        hyperparameters.update({
            "sagemaker_program": json_hyperparameter(TRAINING_ENTRY_POINT),
            "sagemaker_submit_directory": json_hyperparameter(self.code_asset.s3_object_url),
            "sagemaker_region": json_hyperparameter(self.stack.region),
            "sagemaker_container_log_level": "20",
            "sagemaker_job_name": json_hyperparameter(self.job_name),
        })
        job = CustomResource(
            self.scope, "TrainingJob",
            service_token=self.provider.service_token,
            resource_type="Custom::SageMakerTrainingJob",
            properties={
                "TrainingJobName": self.job_name,
                "RoleArn": self.role.role_arn,
                "TrainingImage": self.images.image("training"),
                "InstanceType": c.training.instance_type,
                "InstanceCount": "1",
                "VolumeSizeInGB": str(c.training.volume_size_gb),
                "MaxRuntimeInSeconds": str(c.training.max_runtime_minutes * 60),
                "HyperParameters": hyperparameters,
                "TrainingDataUri": f"s3://{bucket}/{self.data_version_prefix}",
                "OutputUri": f"s3://{bucket}/{c.bucket.training_output_prefix.rstrip('/')}",
                "ModelPrefixUri": f"s3://{bucket}/{c.bucket.model_prefix}",
                # The drift check (monitoring stack) compares captured traffic with this baseline.
                "BaselineUri": f"s3://{bucket}/{c.bucket.baseline_key}",
                "MinValidationAccuracy": str(c.training.min_validation_accuracy),
                "MetricDefinitions": METRIC_DEFINITIONS,
                "Tags": [{"Key": "project", "Value": c.project_name}],
            },
        )
        # The data must be in place and the role's policy attached before the job starts.
        job.node.add_dependency(self.data_deployment)
        job.node.add_dependency(self.role)
        return job

    def _acknowledge_findings(self) -> None:
        c, stack, objects = self.config, self.stack, self.bucket.arn_for_objects
        output_prefix = resource_finding(stack, objects(f"{c.bucket.training_output_prefix}*"))
        model_prefix = resource_finding(stack, objects(f"{c.bucket.model_prefix}*"))

        # CDK's BucketDeployment (training data upload; runs only during deploys).
        acknowledge(self.data_deployment_role, "IAM5",
                    "CDK's BucketDeployment grants its handler s3:GetObject*/GetBucket*/List* on the CDK asset bucket "
                    "and read/write/delete on the whole destination bucket. The role's explicit Deny "
                    "(OnlyTheTrainingDataPrefix) confines every object read, write and delete to the one data zip "
                    "and to this training data version's prefix.",
                    ["Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*", "Action::s3:DeleteObject*",
                     "Action::s3:Abort*", resource_finding(stack, self.data_asset.bucket.arn_for_objects("*")),
                     resource_finding(stack, objects("*"))])
        # Its handler is a stack-level singleton.
        for child in stack.node.children:
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                acknowledge(child, "L1",
                            "CDK's own BucketDeployment handler: aws-cdk-lib pins its runtime together with the AWS "
                            "CLI layer it ships; it runs only while deploying the training data.")

        # The provider's own handlers (their X-Ray Resource '*' is acknowledged by product_function).
        for fn in (self.on_event_fn, self.is_complete_fn):
            acknowledge(fn.role, "IAM5",
                        "Starts/describes/stops only this project's training jobs (name prefix '<project>-'): the name "
                        "changes with each retraining, and the previous job must still be stoppable on rollback.",
                        [resource_finding(stack, self.job_arn_pattern)])
        acknowledge(self.is_complete_fn.role, "IAM5",
                    "Reads metadata.json from the finished job's model.tar.gz (under the training output prefix, "
                    "per-job key) and copies an accepted model to <model_prefix><job name>/model.tar.gz.",
                    [output_prefix, model_prefix])

        # CDK Provider framework (its Lambdas and waiter state machine).
        handler_versions = [function_versions_finding(self.on_event_fn), function_versions_finding(self.is_complete_fn)]
        for role in self.framework_roles:
            acknowledge(role, "IAM5",
                        "CDK's Provider framework grants lambda:InvokeFunction on '<function-arn>:*', i.e. the versions "
                        "and aliases of our own two provider handlers and nothing else.", handler_versions)
        framework = [self.provider.node.find_child(f"framework-{name}") for name in ("isComplete", "onTimeout")]
        waiter = self.provider.node.find_child("waiter-state-machine")
        acknowledge(waiter, "IAM5",
                    "CDK's Provider waiter state machine invokes '<function-arn>:*' of the framework's own isComplete "
                    "and onTimeout functions only.", [function_versions_finding(fn) for fn in framework])
        acknowledge(waiter, "IAM5",
                    "CloudWatch Logs vended-log delivery actions (CreateLogDelivery, PutResourcePolicy, ...) support no "
                    "resource-level permissions, so AWS requires Resource '*' for state machine logging.",
                    ["Resource::*"])
        acknowledge(waiter, "SF2",
                    "CDK's Provider framework creates this waiter state machine without a tracing option; it only polls "
                    "is_complete during deploys, and our own provider Lambdas are traced with X-Ray.")
