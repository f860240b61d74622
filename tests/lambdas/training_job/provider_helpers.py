"""Builders for the provider tests: CloudFormation events, resource properties like the model
stack's, and model.tar.gz artifacts laid out the way SageMaker writes them."""
from __future__ import annotations

import io
import json
import tarfile

BUCKET = "scones-data-123456789012-us-east-1"
REGION = "us-east-1"


def properties(role_arn: str, job_name: str = "scones-cifar100-v1-0123456789ab", **overrides) -> dict:
    """ResourceProperties as CloudFormation delivers them (scalars as strings), like the model stack's."""
    props = {
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:framework-onEvent",
        "TrainingJobName": job_name,
        "RoleArn": role_arn,
        "TrainingImage": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6.0-cpu-py312",
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": "1",
        "VolumeSizeInGB": "30",
        "MaxRuntimeInSeconds": "3600",
        "HyperParameters": {"seed": "7", "epochs": "40", "sagemaker_program": '"train.py"',
                            "sagemaker_submit_directory": '"s3://cdk-assets-123456789012-us-east-1/abc.gz"',
                            "sagemaker_region": '"us-east-1"', "sagemaker_container_log_level": "20"},
        "TrainingDataUri": f"s3://{BUCKET}/training-data/cifar100-v1/",
        "OutputUri": f"s3://{BUCKET}/training-output",
        "ModelPrefixUri": f"s3://{BUCKET}/models/",
        "BaselineUri": f"s3://{BUCKET}/models/baseline.json",
        "MinValidationAccuracy": "0.88",
        "MetricDefinitions": [{"Name": "validation:accuracy", "Regex": r"validation: accuracy ([0-9.]+)"}],
        "Tags": [{"Key": "project", "Value": "scones"}],
    }
    props.update(overrides)
    return props


def cfn_event(request_type: str, props: dict, physical_id: str | None = None, old_props: dict | None = None,
              data: dict | None = None) -> dict:
    event = {
        "RequestType": request_type,
        "ServiceToken": props["ServiceToken"],
        "ResponseURL": "...",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/SconesModel/guid",
        "RequestId": "6c4a9a4b-1111-2222-3333-444455556666",
        "LogicalResourceId": "TrainingJob",
        "ResourceType": "Custom::SageMakerTrainingJob",
        "ResourceProperties": props,
    }
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    if old_props is not None:
        event["OldResourceProperties"] = old_props
    if data is not None:
        event["Data"] = data
    return event


def model_tar_gz(metadata: dict | None, baseline: dict | None = None, *, dot_slash: bool = True,
                 weights: bytes = b"\x80\x02weights" * 4096) -> bytes:
    """A model.tar.gz as SageMaker packs SM_MODEL_DIR: './'-prefixed members, weights before metadata."""
    files: dict[str, bytes] = {"model.pth": weights, "code/inference.py": b"from training.serve import *\n"}
    if metadata is not None:
        files["metadata.json"] = json.dumps(metadata).encode()
    if baseline is not None:
        files["baseline.json"] = json.dumps(baseline).encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(("./" if dot_slash else "") + name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def metadata(accuracy: float, version: str = "r9-0123456789ab") -> dict:
    return {"schema_version": 1, "model_version": version, "class_names": ["bicycle", "motorcycle"],
            "validation": {"n": 200, "accuracy": accuracy, "coverage": 0.8, "selective_accuracy": 0.97, "ece": 0.03}}


BASELINE = {"version": 1, "source": "validation", "threshold": 0.93, "class_names": ["bicycle", "motorcycle"],
            "top_confidence": [0.99, 0.97, 0.6], "predicted": ["bicycle", "motorcycle", "bicycle"],
            "class_counts": {"bicycle": 2, "motorcycle": 1}}
