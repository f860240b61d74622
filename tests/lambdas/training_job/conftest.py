"""Fixtures for the training-job custom-resource provider: moto SageMaker + S3, CloudFormation-style
events, and artifacts laid out the way SageMaker writes them (model.tar.gz of SM_MODEL_DIR).

moto's create_training_job completes a job instantly and implements no StopTrainingJob; the
`shim` fixture wraps the moto client so a test can make DescribeTrainingJob report
InProgress/Failed/Stopped and record StopTrainingJob calls. Nothing else is faked.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from moto import mock_aws

from lambdas.shared import aws_clients
from lambdas.training_job import handler
from tests.lambdas.training_job.provider_helpers import BUCKET, REGION


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                        "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SAGEMAKER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WAIT_BUDGET_SECONDS", "3510")  # what the model stack sets for is_complete
    aws_clients.reset_clients()
    yield
    aws_clients.reset_clients()


def training_role_arn(roles) -> str:
    """The RoleArn the model stack gives the training-job resource (the role the provider may pass)."""
    [props] = [r["Properties"] for t in roles.templates.values() for r in t["Resources"].values()
               if r["Type"] == "Custom::SageMakerTrainingJob"]
    return roles.resolver.resolve(props["RoleArn"])


@pytest.fixture
def aws(iam):
    """moto S3 (the data bucket) and SageMaker; the handler's clients are created inside the mock."""
    with mock_aws():
        s3 = handler.aws_client("s3")  # the handler's own cached client, created inside the mock
        s3.create_bucket(Bucket=BUCKET)
        role = training_role_arn(iam.roles)  # SageMaker only stores it; the provider must be allowed to pass it
        yield AwsFixture(s3=s3, sagemaker=handler.aws_client("sagemaker"), role_arn=role)


@dataclass
class AwsFixture:
    s3: Any
    sagemaker: Any
    role_arn: str

    def object_bytes(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def keys(self, prefix: str) -> list[str]:
        return sorted(o["Key"] for o in self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


@dataclass
class SageMakerShim:
    """Delegates to moto's SageMaker client; overrides the job status and records StopTrainingJob."""
    real: Any
    status: dict[str, dict] = field(default_factory=dict)  # job name -> fields to overlay on Describe
    stopped: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    create_errors: list[Exception] = field(default_factory=list)

    def describe_training_job(self, **kwargs):
        job = self.real.describe_training_job(**kwargs)
        job.update(self.status.get(kwargs["TrainingJobName"], {}))
        return job

    def create_training_job(self, **kwargs):
        if self.create_errors:
            raise self.create_errors.pop(0)
        self.created.append(kwargs["TrainingJobName"])
        return self.real.create_training_job(**kwargs)

    def stop_training_job(self, **kwargs):
        self.stopped.append(kwargs["TrainingJobName"])
        return {}

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.fixture
def shim(aws, monkeypatch):
    """Route the handler's SageMaker client through SageMakerShim (S3 stays plain moto)."""
    fake = SageMakerShim(real=aws.sagemaker)
    aws_clients.install("sagemaker", fake)
    return fake
