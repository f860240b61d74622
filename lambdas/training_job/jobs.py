"""What the provider does with SageMaker: build the CreateTrainingJob request from the resource
properties, start (or adopt) the job, stop it, and turn a described job into a gate decision.

Resource properties (CloudFormation delivers every scalar as a string):
    TrainingJobName        deterministic: <project>-<data version>-<hash of code, data, hyperparameters, image, instance>
    RoleArn                SageMaker execution role of the job
    TrainingImage          PyTorch training image URI for the region
    InstanceType, InstanceCount, VolumeSizeInGB, MaxRuntimeInSeconds
    HyperParameters        {name: JSON-encoded value}, incl. sagemaker_program / sagemaker_submit_directory
    TrainingDataUri        s3://<bucket>/<training_data_prefix><training_data_version>/ (channel "training")
    OutputUri              s3://<bucket>/<training_output_prefix without the trailing slash>
    ModelPrefixUri         s3://<bucket>/<model_prefix>: accepted models are copied under it
    BaselineUri            optional: where the accepted model's baseline.json is published for the drift
                           check (a key ending in .tar.gz gets the whole model.tar.gz instead)
    MinValidationAccuracy  the evaluation gate
    MetricDefinitions      [{Name, Regex}] (console/CloudWatch visibility only; the gate reads metadata.json)
    Tags                   [{Key, Value}]
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from botocore.exceptions import ClientError

from .promotion import (BASELINE_FILE, METADATA_FILE, ArtifactError, parse_metadata, promote, promoted_uri,
                       put_bytes, read_members, validation_accuracy)

RUNNING = ("InProgress", "Stopping")
FAILED = ("Failed", "Stopped")
RETRAIN_HINT = ("SageMaker job names are unique per account and region, and this one is derived from the training "
                "code, the data and the hyperparameters: change training_hyperparameters (e.g. add \"attempt\": 2, "
                "which train.py ignores) or training_data_version to train again")


class TrainingJobFailed(RuntimeError):
    """The training job ended Failed or Stopped (the message carries SageMaker's FailureReason)."""


class AccuracyGateError(RuntimeError):
    """The trained model is below min_validation_accuracy: the endpoint must not change."""


class PropertyError(ValueError):
    """A resource property is missing or malformed (a bug in the stack, not in the job)."""


@dataclass(frozen=True)
class GateResult:
    model_data_url: str  # the promoted copy under the models prefix (what the endpoint serves)
    training_model_data_url: str  # SageMaker's own output
    accuracy: float
    model_version: str
    job_name: str
    job_arn: str
    baseline_uri: str = ""

    def as_data(self) -> dict[str, str]:
        return {
            "BaselineUri": self.baseline_uri,
            "ModelDataUrl": self.model_data_url,
            "TrainingModelDataUrl": self.training_model_data_url,
            "ValidationAccuracy": f"{self.accuracy:.6f}",
            "ModelVersion": self.model_version,
            "TrainingJobName": self.job_name,
            "TrainingJobArn": self.job_arn,
        }


def _required(props: dict, key: str) -> Any:
    value = props.get(key)
    if value in (None, "", [], {}):
        raise PropertyError(f"resource property {key} is required")
    return value


def _int(props: dict, key: str) -> int:
    try:
        return int(str(_required(props, key)))
    except ValueError:
        raise PropertyError(f"resource property {key} must be an integer, got {props.get(key)!r}") from None


def min_accuracy(props: dict) -> float:
    try:
        value = float(str(_required(props, "MinValidationAccuracy")))
    except ValueError:
        raise PropertyError(f"resource property MinValidationAccuracy must be a number, got "
                            f"{props.get('MinValidationAccuracy')!r}") from None
    if not 0.0 <= value <= 1.0:
        raise PropertyError(f"resource property MinValidationAccuracy must be within 0..1, got {value}")
    return value


def create_request(props: dict) -> dict:
    """The CreateTrainingJob request for the resource properties."""
    hyperparameters = _required(props, "HyperParameters")
    if not isinstance(hyperparameters, dict) or not all(isinstance(v, str) for v in hyperparameters.values()):
        raise PropertyError("resource property HyperParameters must map names to strings")
    request = {
        "TrainingJobName": _required(props, "TrainingJobName"),
        "RoleArn": _required(props, "RoleArn"),
        "AlgorithmSpecification": {
            "TrainingImage": _required(props, "TrainingImage"),
            "TrainingInputMode": "File",
            "MetricDefinitions": list(props.get("MetricDefinitions") or []),
        },
        "HyperParameters": dict(hyperparameters),
        "InputDataConfig": [{
            "ChannelName": "training",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": _required(props, "TrainingDataUri"),
                                            "S3DataDistributionType": "FullyReplicated"}},
            "InputMode": "File",
        }],
        "OutputDataConfig": {"S3OutputPath": _required(props, "OutputUri")},
        "ResourceConfig": {
            "InstanceType": _required(props, "InstanceType"),
            "InstanceCount": _int(props, "InstanceCount"),
            "VolumeSizeInGB": _int(props, "VolumeSizeInGB"),
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": _int(props, "MaxRuntimeInSeconds")},
        "Tags": list(props.get("Tags") or []),
    }
    if not request["AlgorithmSpecification"]["MetricDefinitions"]:
        del request["AlgorithmSpecification"]["MetricDefinitions"]
    if not request["Tags"]:
        del request["Tags"]
    return request


def describe(sagemaker: Any, job_name: str) -> dict | None:
    """DescribeTrainingJob, or None if there is no such job (or the name is not a job name at all)."""
    try:
        return sagemaker.describe_training_job(TrainingJobName=job_name)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "").lower()
        missing = any(text in message for text in ("not found", "could not find", "does not exist", "validation error"))
        if code == "ResourceNotFound" or (code == "ValidationException" and missing):
            return None
        raise


def _failure(job: dict) -> str:
    reason = job.get("FailureReason") or "no FailureReason given"
    return f"SageMaker training job {job['TrainingJobName']} is {job['TrainingJobStatus']}: {reason}"


def start_or_adopt(sagemaker: Any, props: dict, *, sleep: Callable[[float], None] | None = None,
                   role_retry_seconds: float = 60.0) -> tuple[str, bool]:
    """Start the job, or adopt an existing one of the same name. Returns (name, started_now).

    The same name means the same code, data and hyperparameters, so a Completed or running job is
    reused as is (no second bill). A Failed or Stopped one cannot be restarted under its name.
    A freshly created execution role can take a few seconds to become assumable by SageMaker;
    such a rejection is retried for up to `role_retry_seconds`.
    """
    request = create_request(props)
    name = request["TrainingJobName"]
    existing = describe(sagemaker, name)
    if existing is not None:
        if existing["TrainingJobStatus"] in FAILED:
            raise TrainingJobFailed(f"{_failure(existing)}. {RETRAIN_HINT}.")
        return name, False
    waited = 0.0
    while True:
        try:
            sagemaker.create_training_job(**request)
            return name, True
        except ClientError as exc:
            message = exc.response.get("Error", {}).get("Message", "")
            propagating = exc.response.get("Error", {}).get("Code") == "ValidationException" and "assume" in message.lower()
            if not propagating or waited >= role_retry_seconds:
                raise
            (sleep or time.sleep)(10.0)
            waited += 10.0


def stop_if_running(sagemaker: Any, job_name: str) -> str | None:
    """Stop the job if it is still running (deploy rolled back or resource deleted); its status."""
    job = describe(sagemaker, job_name)
    if job is None:
        return None
    status = job["TrainingJobStatus"]
    if status == "InProgress":
        sagemaker.stop_training_job(TrainingJobName=job_name)
        return "Stopping"
    return status


def evaluate(sagemaker: Any, s3: Any, job_name: str, props: dict) -> GateResult | None:
    """None while the job runs; the gate result once it Completed; raises if it failed or is below the bar."""
    job = describe(sagemaker, job_name)
    if job is None:
        raise TrainingJobFailed(f"SageMaker training job {job_name} does not exist")
    status = job["TrainingJobStatus"]
    if status in RUNNING:
        return None
    if status in FAILED:
        raise TrainingJobFailed(_failure(job))
    if status != "Completed":
        raise TrainingJobFailed(f"SageMaker training job {job_name} has unexpected status {status!r}")
    artifact = job.get("ModelArtifacts", {}).get("S3ModelArtifacts")
    if not artifact:
        raise TrainingJobFailed(f"SageMaker training job {job_name} Completed without ModelArtifacts.S3ModelArtifacts")
    members = read_members(s3, artifact, (METADATA_FILE, BASELINE_FILE))
    metadata = parse_metadata(members.get(METADATA_FILE), artifact)
    accuracy = validation_accuracy(metadata, artifact)
    version = str(metadata.get("model_version") or "unknown")
    bar = min_accuracy(props)
    if accuracy < bar:
        raise AccuracyGateError(
            f"Evaluation gate: model {version} from training job {job_name} has validation accuracy {accuracy:.4f}, "
            f"below min_validation_accuracy {bar:.4f}. The endpoint was not created or updated and keeps serving "
            f"the previous model (if any). Artifact: {artifact}. Improve the model (training_hyperparameters, "
            f"training_data_version) or lower min_validation_accuracy, then deploy again.")
    baseline = members.get(BASELINE_FILE)
    if baseline is None:
        raise ArtifactError(f"{artifact} has no top-level {BASELINE_FILE}; the drift check needs it")
    model_prefix = _required(props, "ModelPrefixUri")
    destination = promote(s3, artifact, promoted_uri(model_prefix, job_name))
    put_bytes(s3, promoted_uri(model_prefix, job_name, BASELINE_FILE), baseline)
    published = props.get("BaselineUri") or ""
    if published:
        if published.endswith(".tar.gz"):
            promote(s3, artifact, published)
        else:
            put_bytes(s3, published, baseline)
    return GateResult(model_data_url=destination, training_model_data_url=artifact, accuracy=accuracy,
                      model_version=version, job_name=job_name, job_arn=job["TrainingJobArn"], baseline_uri=published)
