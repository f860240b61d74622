"""The model stack: training data and code in S3, a SageMaker training job that runs on
`cdk deploy`, an evaluation gate, and the real-time endpoint that serves the accepted model.

Flow on every deploy::

    BucketDeployment  data/sample/... -> s3://<bucket>/<training_data_prefix><training_data_version>/
    s3_assets.Asset   training/ -> sourcedir.tar.gz (deterministic bytes, custom content hash)
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
    (CloudFormation's custom-resource limit), so a training must finish within it; the sample
    training takes minutes on the default CPU instance.

Evaluation gate
    The is_complete handler compares metadata.json's validation.accuracy (what the training
    writes into the very artifact the endpoint loads - not a log-scraped metric) with
    min_validation_accuracy. Below the bar it raises a message naming the model version, the
    accuracy and the bar: the custom resource fails, so CfnModel / EndpointConfig / Endpoint are
    never created or updated and CloudFormation rolls back to the previous model. Raising
    min_validation_accuracy re-applies the gate to the existing model without retraining.
    MetricDefinitions also put `validation:accuracy` into the SageMaker console/CloudWatch.

Model version
    The training writes its own `model_version` (r9-<hash>, in metadata.json, returned by the
    custom resource as the ModelVersion attribute). The version handed to the workflow stack
    (`self.model_version`) is the training job name, which is known at synth time: a deploy-time
    value would become a cross-stack export, and CloudFormation refuses to change an export that
    another stack imports, i.e. it would block every retraining. The job name also names the
    promoted artifact (<model_prefix><job name>/model.tar.gz), so each maps to the other.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

import jsii
from aws_cdk import (ArnFormat, Aws, AssetHashType, BundlingOptions, BundlingOutput, CfnMapping, CfnOutput,
                     CrossStackReferences, CustomResource, DockerImage, Duration, ILocalBundling, ReferenceStrength,
                     RemovalPolicy, Stack, Token)
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct

from .config import ConfigError, SconesConfig
from .functions import log_retention, product_function
from .data_stack import data_bucket_name
from .image_uris import PYTORCH_IMAGES
from .nag import acknowledge

ROOT = Path(__file__).resolve().parent.parent
TRAINING_DIR = ROOT / "training"
SAMPLE_DATA_DIR = ROOT / "data" / "sample" / "cifar100-bicycle-motorcycle"
TRAINING_ENTRY_POINT = "train.py"
INFERENCE_ENTRY_POINT = "inference.py"
SOURCEDIR_NAME = "sourcedir.tar.gz"
SOURCEDIR_FORMAT = "sourcedir-v1"  # bump when the packaging below changes, so the hash changes too
VARIANT_NAME = "AllTraffic"
PROCESSOR = "cpu"
# CloudFormation waits at most 3600 s for a custom resource; the Provider's waiter gets all of it.
PROVIDER_TOTAL_TIMEOUT = Duration.hours(1)
PROVIDER_QUERY_INTERVAL = Duration.seconds(30)
WAIT_BUDGET_SECONDS = 3600 - 90  # is_complete fails with a clear message just before the framework's timeout
PROVIDER_RUNTIME = lambda_.Runtime.PYTHON_3_14  # boto3 only: no wheel or layer ties it to 3.12
SCALE_IN_COOLDOWN = Duration.minutes(5)
SCALE_OUT_COOLDOWN = Duration.minutes(1)
BLUE_GREEN_PROVISIONING_MARGIN_SECONDS = 30 * 60
_IGNORED_PARTS = ("__pycache__", ".pytest_cache")
_IGNORED_SUFFIXES = (".pyc", ".pyo")
# Lines the training logs (training/pipeline.py) that SageMaker turns into job metrics.
METRIC_DEFINITIONS = [
    {"Name": "validation:accuracy", "Regex": r"validation: accuracy ([0-9.]+)"},
    {"Name": "validation:ece", "Regex": r"ECE ([0-9.]+); model"},
]


# ---------------------------------------------------------------------------------------- code
def _package_files(base: Path) -> list[tuple[str, Path]]:
    """(posix path relative to base, path) of every file, sorted by that relative path."""
    files = []
    for path in base.rglob("*"):
        rel = path.relative_to(base)
        if path.is_file() and not any(p in _IGNORED_PARTS for p in rel.parts) and path.suffix not in _IGNORED_SUFFIXES:
            files.append((rel.as_posix(), path))
    return sorted(files)


def training_source_files() -> list[tuple[str, Path]]:
    """The files of the training package that go into sourcedir.tar.gz (entry point at the root)."""
    files = _package_files(TRAINING_DIR)
    if TRAINING_ENTRY_POINT not in {name for name, _ in files}:
        raise ConfigError(f"{TRAINING_DIR / TRAINING_ENTRY_POINT} is missing: SageMaker script mode needs it")
    return files


def content_hash(files: list[tuple[str, Path]], salt: str) -> str:
    """sha256 over a format tag and each file's relative path and bytes: the same on every machine."""
    digest = hashlib.sha256(salt.encode() + b"\0")
    for name, path in files:
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def sourcedir_bytes(files: list[tuple[str, Path]]) -> bytes:
    """Deterministic tar.gz: sorted members, fixed mtime/owner/mode, gzip header without a timestamp."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        directories = sorted({"/".join(n.split("/")[:i]) for n, _ in files for i in range(1, n.count("/") + 1)})
        for name in sorted([n for n, _ in files] + directories):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if name in directories:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
            else:
                data = dict(files)[name].read_bytes()
                info.size, info.mode = len(data), 0o644
                archive.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


@jsii.implements(ILocalBundling)
class SourceDirBundling:
    """Local bundling (no Docker): write the training package as the single file sourcedir.tar.gz."""

    def __init__(self, files: list[tuple[str, Path]]) -> None:
        self.files = files

    def try_bundle(self, output_dir: str, _options=None, **_kwargs) -> bool:
        (Path(output_dir) / SOURCEDIR_NAME).write_bytes(sourcedir_bytes(self.files))
        return True


# -------------------------------------------------------------------------- job identity
def sagemaker_hyperparameters(config: SconesConfig) -> dict[str, str | int | float]:
    """The user hyperparameters as train.py's flags: `batch_size` and `batch-size` both mean --batch-size."""
    result: dict[str, str | int | float] = {}
    for key, value in sorted(config.training_hyperparameters.items()):
        flag = key.strip().lstrip("-").replace("_", "-")
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", flag):
            raise ConfigError(f"config key 'training_hyperparameters' = {{{key!r}: ...}} is invalid: allowed names are "
                              "train.py flags without the dashes, e.g. 'epochs', 'batch-size' or 'batch_size'")
        if flag.startswith("sagemaker-"):
            raise ConfigError(f"config key 'training_hyperparameters' = {{{key!r}: ...}} is invalid: "
                              "'sagemaker_*' names are reserved for the SageMaker training toolkit")
        if flag in result:
            raise ConfigError(f"config key 'training_hyperparameters' = {{{key!r}: ...}} is invalid: "
                              f"it names the flag --{flag} twice")
        result[flag] = value
    return result


def image_entry(config: SconesConfig, scope: str) -> dict:
    """The generated image table entry for the configured PyTorch version (scope: training/inference)."""
    version, py = config.pytorch_inference_version, config.pytorch_py_version
    try:
        return PYTORCH_IMAGES[version][py][PROCESSOR][scope]
    except KeyError:
        known = sorted(f"{v}/{p}" for v, pys in PYTORCH_IMAGES.items() for p in pys)
        raise ConfigError(f"config keys 'pytorch_inference_version'/'pytorch_py_version' = {version!r}/{py!r} are "
                          f"invalid: allowed {known} (regenerate stacks/image_uris.py with scripts/gen_image_uris.py "
                          "to add versions)") from None


def image_regions(config: SconesConfig) -> dict[str, dict[str, str]]:
    """{region: {TrainingImage, TrainingRegistry, InferenceImage, InferenceRegistry}} where both images exist."""
    training, inference = image_entry(config, "training"), image_entry(config, "inference")
    regions = sorted(set(training["regions"]) & set(inference["regions"]))
    return {r: {"TrainingImage": training["regions"][r]["uri"], "TrainingRegistry": training["regions"][r]["account"],
                "InferenceImage": inference["regions"][r]["uri"], "InferenceRegistry": inference["regions"][r]["account"]}
            for r in regions}


def training_job_name(config: SconesConfig, code_hash: str, data_hash: str) -> str:
    """Deterministic job name: any change to code, data, hyperparameters, image or instance gives a new one."""
    training = image_entry(config, "training")
    identity = {
        "code": code_hash,
        "data": data_hash,
        "data_version": config.training_data_version,
        "hyperparameters": sagemaker_hyperparameters(config),
        "image": f"{training['repository']}:{training['tag']}",
        "instance_type": config.training_instance_type,
        "entry_point": TRAINING_ENTRY_POINT,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", config.training_data_version).strip("-")[:24].strip("-") or "data"
    return f"{config.project_name}-{slug}-{digest[:12]}"


def _json_hyperparameter(value) -> str:
    """SageMaker hyperparameters are strings; like the SageMaker SDK we JSON-encode them (the toolkit decodes)."""
    return json.dumps(value)


# ------------------------------------------------------------------------------------ stack
class ModelStack(Stack):
    """Training on deploy, evaluation gate, and the endpoint that serves the accepted model."""

    def __init__(self, scope: Construct, construct_id: str, *, config: SconesConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.log_retention = log_retention(config)
        # Referenced by its deterministic name (see data_stack), so no export ties the stacks together.
        self.bucket = s3.Bucket.from_bucket_name(self, "DataBucket", data_bucket_name(self, config))
        self.endpoint_name = config.endpoint_name

        self.images = self._image_mapping()
        self.data_version_prefix = f"{config.training_data_prefix}{config.training_data_version}/"
        self.code_files = training_source_files()
        self.code_hash = content_hash(self.code_files, SOURCEDIR_FORMAT)
        self.data_files = _package_files(SAMPLE_DATA_DIR)
        self.data_hash = content_hash(self.data_files, "training-data-v1")
        self.training_job_name = training_job_name(config, self.code_hash, self.data_hash)
        self.model_version = self.training_job_name

        self.code_asset = self._training_code_asset()
        self.training_data = self._training_data_deployment()
        self.training_role = self._training_role()
        self.training_job = self._training_job()

        self.model_role = self._model_role()
        self.model = self._model()
        self.endpoint_config = self._endpoint_config()
        self.rollback_alarms = self._rollback_alarms()
        self.endpoint = self._endpoint()
        # CfnEndpoint's Ref is the endpoint ARN (SageMaker lower-cases the name in it). Consumers get a
        # strong (export/import) reference: the endpoint cannot be removed while the workflow invokes it.
        # The ARN only changes if endpoint_name changes (CloudFormation then refuses to update the export
        # while the workflow imports it); retraining never changes it.
        CrossStackReferences.of(self.endpoint).produce(ReferenceStrength.STRONG)
        self.endpoint_arn = self.endpoint.ref
        self.scaling = self._autoscaling()
        self._outputs()
        self._acknowledge_findings()

    # ------------------------------------------------------------------------- images
    def _image_mapping(self) -> CfnMapping:
        regions = image_regions(self.config)
        if not Token.is_unresolved(self.region) and self.region not in regions:
            raise ConfigError(f"region {self.region!r} has no SageMaker PyTorch {self.config.pytorch_inference_version} "
                              f"{self.config.pytorch_py_version} training+inference image; regions: {sorted(regions)}")
        return CfnMapping(self, "PyTorchImages", mapping=regions)

    def _image(self, key: str) -> str:
        return self.images.find_in_map(Aws.REGION, key)

    def _repository_arn(self, scope: str) -> str:
        entry = image_entry(self.config, scope)
        return self.format_arn(service="ecr", resource="repository", resource_name=entry["repository"],
                               account=self._image(f"{scope.capitalize()}Registry"))

    # --------------------------------------------------------------------- training
    def _training_code_asset(self) -> s3_assets.Asset:
        return s3_assets.Asset(
            self, "TrainingCode",
            path=str(TRAINING_DIR),
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=self.code_hash,
            bundling=BundlingOptions(
                image=DockerImage.from_registry("public.ecr.aws/docker/library/python:3.12-slim"),
                local=SourceDirBundling(self.code_files),
                output_type=BundlingOutput.SINGLE_FILE,
            ),
        )

    def _training_data_deployment(self) -> s3deploy.BucketDeployment:
        self.data_asset = s3_assets.Asset(self, "TrainingDataAsset", path=str(SAMPLE_DATA_DIR),
                                          asset_hash_type=AssetHashType.CUSTOM, asset_hash=self.data_hash)
        role = iam.Role(self, "TrainingDataDeploymentRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description="Role of CDK's BucketDeployment handler that uploads the training data")
        log_group = logs.LogGroup(self, "TrainingDataDeploymentLogs", retention=self.log_retention,
                                  removal_policy=RemovalPolicy.DESTROY)
        log_group.grant_write(role)
        deployment = s3deploy.BucketDeployment(
            self, "TrainingData",
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
        self.data_deployment_role = role
        return deployment

    def _training_role(self) -> iam.Role:
        role = iam.Role(self, "TrainingJobRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                        description="SageMaker execution role of the training jobs: read data and code, write output")
        c = self.config
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadTrainingData", actions=["s3:GetObject"],
            resources=[self.bucket.arn_for_objects(f"{self.data_version_prefix}*")]))
        role.add_to_policy(iam.PolicyStatement(
            sid="ListTrainingData", actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{self.data_version_prefix}*"]}}))
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadTrainingCode", actions=["s3:GetObject"],
            resources=[self.code_asset.bucket.arn_for_objects(self.code_asset.s3_object_key)]))
        role.add_to_policy(iam.PolicyStatement(
            sid="WriteTrainingOutput", actions=["s3:PutObject", "s3:AbortMultipartUpload"],
            resources=[self.bucket.arn_for_objects(f"{c.training_output_prefix}*")]))
        self._grant_image_pull(role, "training")
        self._grant_sagemaker_logs(role, "/aws/sagemaker/TrainingJobs", f"{c.project_name}-*")
        return role

    def _grant_image_pull(self, role: iam.Role, scope: str) -> None:
        role.add_to_policy(iam.PolicyStatement(
            sid="PullFrameworkImage",
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            resources=[self._repository_arn(scope)]))
        role.add_to_policy(iam.PolicyStatement(
            sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]))

    def _grant_sagemaker_logs(self, role: iam.Role, log_group_name: str, stream_pattern: str) -> None:
        group_arn = self.format_arn(service="logs", resource="log-group", resource_name=f"{log_group_name}:*",
                                    arn_format=ArnFormat.COLON_RESOURCE_NAME)
        stream_arn = self.format_arn(service="logs", resource="log-group",
                                     resource_name=f"{log_group_name}:log-stream:{stream_pattern}", arn_format=ArnFormat.COLON_RESOURCE_NAME)
        role.add_to_policy(iam.PolicyStatement(
            sid="LogGroup", actions=["logs:CreateLogGroup", "logs:DescribeLogStreams"], resources=[group_arn]))
        role.add_to_policy(iam.PolicyStatement(
            sid="LogStreams", actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[stream_arn]))
        role.add_to_policy(iam.PolicyStatement(
            sid="Metrics", actions=["cloudwatch:PutMetricData"], resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": log_group_name}}))

    def _provider_function(self, construct_id: str, handler: str, environment: dict[str, str]) -> lambda_.Function:
        return product_function(
            self, construct_id, config=self.config, package="training_job", entry=handler,
            runtime=PROVIDER_RUNTIME, memory_mb=256, timeout=Duration.minutes(2), environment=environment,
            role_description=f"Least-privilege role of the training-job provider's {handler} handler",
            description=f"Custom::SageMakerTrainingJob {handler} (starts/polls the training, applies the gate)",
        )

    def _training_job_arn_pattern(self) -> str:
        return self.format_arn(service="sagemaker", resource="training-job", resource_name=f"{self.config.project_name}-*")

    def _training_job(self) -> CustomResource:
        c = self.config
        job_arns = [self._training_job_arn_pattern()]
        on_event = self._provider_function("TrainingJobOnEvent", "on_event", {})
        on_event.add_to_role_policy(iam.PolicyStatement(
            actions=["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
                     "sagemaker:AddTags"],
            resources=job_arns))
        on_event.add_to_role_policy(iam.PolicyStatement(
            actions=["iam:PassRole"], resources=[self.training_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}))
        is_complete = self._provider_function("TrainingJobIsComplete", "is_complete",
                                              {"WAIT_BUDGET_SECONDS": str(WAIT_BUDGET_SECONDS)})
        is_complete.add_to_role_policy(iam.PolicyStatement(
            actions=["sagemaker:DescribeTrainingJob"], resources=job_arns))
        is_complete.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects(f"{c.training_output_prefix}*")]))
        published = [self.bucket.arn_for_objects(f"{c.model_prefix}*")]
        if not c.drift_baseline_key.startswith(c.model_prefix):
            published.append(self.bucket.arn_for_objects(c.drift_baseline_key))
        is_complete.add_to_role_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=published))

        framework_logs = logs.LogGroup(self, "TrainingJobProviderLogs", retention=self.log_retention,
                                       removal_policy=RemovalPolicy.DESTROY)
        waiter_logs = logs.LogGroup(self, "TrainingJobWaiterLogs", retention=self.log_retention,
                                    removal_policy=RemovalPolicy.DESTROY)
        framework_on_event_role = iam.Role(
            self, "TrainingJobProviderOnEventRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="CDK Provider framework onEvent function of the training-job custom resource")
        framework_waiter_role = iam.Role(
            self, "TrainingJobProviderWaiterRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="CDK Provider framework isComplete/onTimeout functions of the training-job custom resource")
        for role in (framework_on_event_role, framework_waiter_role):
            framework_logs.grant_write(role)
        self.provider = cr.Provider(
            self, "TrainingJobProvider",
            on_event_handler=on_event,
            is_complete_handler=is_complete,
            query_interval=PROVIDER_QUERY_INTERVAL,
            total_timeout=PROVIDER_TOTAL_TIMEOUT,
            log_group=framework_logs,
            framework_on_event_role=framework_on_event_role,
            framework_complete_and_timeout_role=framework_waiter_role,
            disable_waiter_state_machine_logging=False,
            waiter_state_machine_log_options=cr.LogOptions(destination=waiter_logs, level=sfn.LogLevel.ALL,
                                                           include_execution_data=True),
        )
        self.on_event_fn, self.is_complete_fn = on_event, is_complete

        bucket = self.bucket.bucket_name
        hyperparameters = {k: _json_hyperparameter(v) for k, v in sagemaker_hyperparameters(c).items()}
        hyperparameters.update({
            "sagemaker_program": _json_hyperparameter(TRAINING_ENTRY_POINT),
            "sagemaker_submit_directory": _json_hyperparameter(self.code_asset.s3_object_url),
            "sagemaker_region": _json_hyperparameter(self.region),
            "sagemaker_container_log_level": "20",
            "sagemaker_job_name": _json_hyperparameter(self.training_job_name),
        })
        job = CustomResource(
            self, "TrainingJob",
            service_token=self.provider.service_token,
            resource_type="Custom::SageMakerTrainingJob",
            properties={
                "TrainingJobName": self.training_job_name,
                "RoleArn": self.training_role.role_arn,
                "TrainingImage": self._image("TrainingImage"),
                "InstanceType": c.training_instance_type,
                "InstanceCount": "1",
                "VolumeSizeInGB": str(c.training_volume_size_gb),
                "MaxRuntimeInSeconds": str(c.training_max_runtime_minutes * 60),
                "HyperParameters": hyperparameters,
                "TrainingDataUri": f"s3://{bucket}/{self.data_version_prefix}",
                "OutputUri": f"s3://{bucket}/{c.training_output_prefix.rstrip('/')}",
                "ModelPrefixUri": f"s3://{bucket}/{c.model_prefix}",
                # The drift check (monitoring stack) compares captured traffic with this baseline.
                "BaselineUri": f"s3://{bucket}/{c.drift_baseline_key}",
                "MinValidationAccuracy": str(c.min_validation_accuracy),
                "MetricDefinitions": METRIC_DEFINITIONS,
                "Tags": [{"Key": "project", "Value": c.project_name}],
            },
        )
        # The data must be in place and the role's policy attached before the job starts.
        job.node.add_dependency(self.training_data)
        job.node.add_dependency(self.training_role)
        self.framework_roles = (framework_on_event_role, framework_waiter_role)
        return job

    # ---------------------------------------------------------------------- serving
    def _model_role(self) -> iam.Role:
        c = self.config
        role = iam.Role(self, "ModelExecutionRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                        description="SageMaker execution role of the endpoint: read models, write captured traffic")
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadModels", actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects(f"{c.model_prefix}*")]))
        role.add_to_policy(iam.PolicyStatement(
            sid="WriteDataCapture", actions=["s3:PutObject"],
            resources=[self.bucket.arn_for_objects(f"{c.capture_prefix}*")]))
        self._grant_image_pull(role, "inference")
        self._grant_sagemaker_logs(role, f"/aws/sagemaker/Endpoints/{c.endpoint_name}", "*")
        return role

    def _model(self) -> sagemaker.CfnModel:
        model = sagemaker.CfnModel(
            self, "Model",
            execution_role_arn=self.model_role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=self._image("InferenceImage"),
                model_data_url=self.training_job.get_att_string("ModelDataUrl"),
                environment={
                    "SAGEMAKER_PROGRAM": INFERENCE_ENTRY_POINT,
                    # The training ships code/inference.py inside model.tar.gz, which SageMaker
                    # extracts to /opt/ml/model.
                    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                    "SAGEMAKER_REGION": self.region,
                },
            ),
        )
        model.node.add_dependency(self.model_role)  # policy attached before SageMaker validates the model
        return model

    def _endpoint_config(self) -> sagemaker.CfnEndpointConfig:
        c = self.config
        capture = c.data_capture_sampling_percentage
        return sagemaker.CfnEndpointConfig(
            self, "EndpointConfig",
            production_variants=[sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT_NAME,
                model_name=self.model.attr_model_name,
                initial_instance_count=c.endpoint_initial_instance_count,
                instance_type=c.endpoint_instance_type,
                initial_variant_weight=1.0,
            )],
            data_capture_config=sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                enable_capture=capture > 0,
                initial_sampling_percentage=capture,
                # SageMaker appends /<endpoint>/<variant>/yyyy/mm/dd/hh/ (what the drift check reads).
                destination_s3_uri=f"s3://{self.bucket.bucket_name}/{c.capture_prefix.rstrip('/')}",
                capture_options=[sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                                 sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output")],
                # JSON responses are stored as text; the image requests (not listed) as base64.
                capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                    json_content_types=["application/json"]),
            ),
        )

    def _rollback_alarms(self) -> list[cloudwatch.Alarm]:
        c = self.config
        dimensions = {"EndpointName": c.endpoint_name, "VariantName": VARIANT_NAME}
        errors = cloudwatch.Alarm(
            self, "Invocation5XXErrorsAlarm",
            alarm_name=f"{c.endpoint_name}-invocation-5xx",
            alarm_description="Endpoint returns 5XX errors; trips the blue/green auto-rollback during a model update",
            metric=cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="Invocation5XXErrors",
                                     dimensions_map=dimensions, statistic="Sum", period=Duration.minutes(1)),
            threshold=c.rollback_5xx_errors_threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=2,
            datapoints_to_alarm=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        latency = cloudwatch.Alarm(
            self, "ModelLatencyAlarm",
            alarm_name=f"{c.endpoint_name}-model-latency-p99",
            alarm_description=(f"p99 ModelLatency above {c.rollback_model_latency_ms} ms (the metric is in "
                               "microseconds); trips the blue/green auto-rollback during a model update"),
            metric=cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="ModelLatency",
                                     dimensions_map=dimensions, statistic="p99", period=Duration.minutes(1),
                                     unit=cloudwatch.Unit.MICROSECONDS),
            threshold=c.rollback_model_latency_ms * 1000,  # ms -> microseconds
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        return [errors, latency]

    def _endpoint(self) -> sagemaker.CfnEndpoint:
        c = self.config
        baking = c.deployment_baking_minutes * 60
        return sagemaker.CfnEndpoint(
            self, "Endpoint",
            endpoint_name=c.endpoint_name,
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

    def _autoscaling(self) -> appscaling.ScalableTarget:
        c = self.config
        # SageMaker variants scale through Application Auto Scaling's service-linked role; naming it
        # (rather than letting CDK create an unused role) also lets CloudFormation create it if missing.
        scaling_role = iam.Role.from_role_arn(
            self, "SageMakerAutoScalingServiceLinkedRole",
            self.format_arn(service="iam", region="", resource="role",
                            resource_name="aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
                                          "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"),
            mutable=False)
        target = appscaling.ScalableTarget(
            self, "EndpointScalableTarget",
            role=scaling_role,
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint.attr_endpoint_name}/variant/{VARIANT_NAME}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=c.autoscaling_min_capacity,
            max_capacity=c.autoscaling_max_capacity,
        )
        target.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=c.autoscaling_target_invocations_per_instance,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=SCALE_IN_COOLDOWN,
            scale_out_cooldown=SCALE_OUT_COOLDOWN,
        )
        return target

    def _outputs(self) -> None:
        CfnOutput(self, "EndpointName", value=self.endpoint.attr_endpoint_name)
        CfnOutput(self, "TrainingJobName", value=self.training_job_name)
        CfnOutput(self, "ModelDataUrl", value=self.training_job.get_att_string("ModelDataUrl"))
        CfnOutput(self, "ModelVersion", value=self.training_job.get_att_string("ModelVersion"),
                  description="model_version from the artifact's metadata.json")
        CfnOutput(self, "ValidationAccuracy", value=self.training_job.get_att_string("ValidationAccuracy"))

    # ------------------------------------------------------------------ cdk-nag
    def _finding(self, arn: str) -> str:
        return f"Resource::{nag_flatten(self, arn)}"

    def _fn_versions_finding(self, fn: lambda_.IFunction) -> str:
        logical_id = self.resolve(self.get_logical_id(fn.node.default_child))
        return f"Resource::<{logical_id}.Arn>:*"

    def _acknowledge_findings(self) -> None:
        c = self.config
        objects = self.bucket.arn_for_objects
        data_prefix = self._finding(objects(f"{self.data_version_prefix}*"))
        output_prefix = self._finding(objects(f"{c.training_output_prefix}*"))
        model_prefix = self._finding(objects(f"{c.model_prefix}*"))
        capture_prefix = self._finding(objects(f"{c.capture_prefix}*"))
        job_pattern = self._finding(self._training_job_arn_pattern())
        xray = ("X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions, so AWS requires "
                "Resource '*' for tracing.")

        # CDK's BucketDeployment (training data upload; runs only during deploys).
        acknowledge(self.data_deployment_role, "IAM5",
                    "CDK's BucketDeployment grants its handler s3:GetObject*/GetBucket*/List* on the CDK asset bucket "
                    "and read/write/delete on the whole destination bucket. The role's explicit Deny "
                    "(OnlyTheTrainingDataPrefix) confines every object read, write and delete to the one data zip "
                    "and to this training data version's prefix.",
                    ["Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*", "Action::s3:DeleteObject*",
                     "Action::s3:Abort*", self._finding(self.data_asset.bucket.arn_for_objects("*")),
                     self._finding(objects("*"))])
        for child in self.node.children:
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                acknowledge(child, "L1",
                            "CDK's own BucketDeployment handler: aws-cdk-lib pins its runtime together with the AWS "
                            "CLI layer it ships; it runs only while deploying the training data.")

        # The training job's SageMaker execution role.
        self._acknowledge_sagemaker_role(
            self.training_role, "/aws/sagemaker/TrainingJobs", f"{c.project_name}-*",
            {data_prefix: "Reads the training files of this data version, and only those (its own prefix).",
             output_prefix: "SageMaker writes each job's model.tar.gz/output.tar.gz under <training_output_prefix>"
                            "<job name>/; the job name changes with every retraining, so the prefix is the bound."})

        # The provider's own handlers.
        acknowledge(self.on_event_fn.role, "IAM5", xray, ["Resource::*"])
        acknowledge(self.is_complete_fn.role, "IAM5", xray, ["Resource::*"])
        for fn in (self.on_event_fn, self.is_complete_fn):
            acknowledge(fn.role, "IAM5",
                        "Starts/describes/stops only this project's training jobs (name prefix '<project>-'): the name "
                        "changes with each retraining, and the previous job must still be stoppable on rollback.",
                        [job_pattern])
        acknowledge(self.is_complete_fn.role, "IAM5",
                    "Reads metadata.json from the finished job's model.tar.gz (under the training output prefix, "
                    "per-job key) and copies an accepted model to <model_prefix><job name>/model.tar.gz.",
                    [output_prefix, model_prefix])

        # CDK Provider framework (its Lambdas and waiter state machine).
        handler_versions = [self._fn_versions_finding(self.on_event_fn), self._fn_versions_finding(self.is_complete_fn)]
        for role in self.framework_roles:
            acknowledge(role, "IAM5",
                        "CDK's Provider framework grants lambda:InvokeFunction on '<function-arn>:*', i.e. the versions "
                        "and aliases of our own two provider handlers and nothing else.", handler_versions)
        framework = [self.provider.node.find_child(f"framework-{name}") for name in ("isComplete", "onTimeout")]
        waiter = self.provider.node.find_child("waiter-state-machine")
        acknowledge(waiter, "IAM5",
                    "CDK's Provider waiter state machine invokes '<function-arn>:*' of the framework's own isComplete "
                    "and onTimeout functions only.", [self._fn_versions_finding(fn) for fn in framework])
        acknowledge(waiter, "IAM5",
                    "CloudWatch Logs vended-log delivery actions (CreateLogDelivery, PutResourcePolicy, ...) support no "
                    "resource-level permissions, so AWS requires Resource '*' for state machine logging.",
                    ["Resource::*"])
        acknowledge(waiter, "SF2",
                    "CDK's Provider framework creates this waiter state machine without a tracing option; it only polls "
                    "is_complete during deploys, and our own provider Lambdas are traced with X-Ray.")

        # The endpoint's SageMaker execution role.
        self._acknowledge_sagemaker_role(
            self.model_role, f"/aws/sagemaker/Endpoints/{c.endpoint_name}", "*",
            {model_prefix: "Loads the accepted model from <model_prefix><training job name>/model.tar.gz; the key "
                           "changes with every retraining, so the models prefix is the bound.",
             capture_prefix: "Data capture writes <capture_prefix><endpoint>/<variant>/yyyy/mm/dd/hh/<uuid>.jsonl; "
                             "SageMaker picks the keys."})

    def _acknowledge_sagemaker_role(self, role: iam.Role, log_group: str, stream_pattern: str,
                                    prefixes: dict[str, str]) -> None:
        acknowledge(role, "IAM5",
                    "ecr:GetAuthorizationToken (registry login) and cloudwatch:PutMetricData (limited by a "
                    "cloudwatch:namespace condition) support no resource-level permissions; image pulls themselves "
                    "are limited to the one framework repository.", ["Resource::*"])
        group = self.format_arn(service="logs", resource="log-group", resource_name=f"{log_group}:*",
                                arn_format=ArnFormat.COLON_RESOURCE_NAME)
        stream = self.format_arn(service="logs", resource="log-group",
                                 resource_name=f"{log_group}:log-stream:{stream_pattern}",
                                 arn_format=ArnFormat.COLON_RESOURCE_NAME)
        acknowledge(role, "IAM5",
                    f"SageMaker writes the container logs to log group {log_group}, one stream per instance and "
                    "job/variant that SageMaker names; the group and its streams are the bound.",
                    [self._finding(group), self._finding(stream)])
        for finding, reason in prefixes.items():
            acknowledge(role, "IAM5", reason, [finding])


def nag_flatten(stack: Stack, value) -> str:
    """How cdk-nag prints a (token) resource in a finding: a port of its flattenCfnReference."""

    def visit(node) -> str:
        if node is None:
            return ""
        if isinstance(node, str):
            return node.replace("${", "<").replace("}", ">")
        if isinstance(node, dict):
            if "Fn::Join" in node:
                delimiter, items = node["Fn::Join"]
                return delimiter.join(visit(i) for i in items)
            if "Fn::Sub" in node:
                return visit(node["Fn::Sub"])
            if "Fn::GetAtt" in node:
                resource, attribute = node["Fn::GetAtt"]
                return f"<{visit(resource)}.{visit(attribute)}>"
            if "Fn::ImportValue" in node:
                return visit(node["Fn::ImportValue"])
            if "Ref" in node:
                return f"<{visit(node['Ref'])}>"
        return json.dumps(node, separators=(",", ":"))

    return visit(stack.resolve(value))
