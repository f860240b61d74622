"""Fixtures of the state-machine tests: the synthesized app in moto (`LocalAws`), and a scripted endpoint.

Resources come from the templates (scones.local.aws.LocalAws), the real handlers run in-process
(scones.local.lambda_hook, scones.local.moto_shims), and the SageMaker endpoint is stubbed at the
boto3 level (a botocore Stubber on the classify function's client). IAM is enforced: every call is
checked against the synthesized role it runs as (scones.local.iam_enforcement), and a test in which
any call was denied fails.
"""
from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from lambdas.shared import aws_clients
from scones.local.aws import LocalAws
from scones.local.iam_enforcement import enforce_iam
from scones.local.moto_shims import local_cloud

# A review timeout of 2 s (review_timeout_hours is a float; the callback task's TimeoutSeconds is rounded).
SHORT_REVIEW_TIMEOUT_HOURS = "0.0005"


class EndpointStub:
    """Scripted answers of the SageMaker endpoint, at the boto3 client level."""

    def __init__(self) -> None:
        self.client = boto3.client("sagemaker-runtime", region_name="us-east-1")
        self.stubber = Stubber(self.client)

    def answer(self, probabilities: list[float]) -> None:
        body = json.dumps(probabilities).encode()
        self.stubber.add_response("invoke_endpoint", {
            "Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": "application/json",
            "InvokedProductionVariant": "AllTraffic"},
            {"EndpointName": ANY, "ContentType": "image/png", "Accept": "application/json", "Body": ANY})

    def fail(self, code: str, status: int, **extra) -> None:
        self.stubber.add_client_error("invoke_endpoint", service_error_code=code, service_message=f"stub {code}",
                                      http_status_code=status, modeled_fields=extra or None)


@pytest.fixture
def endpoint():
    stub = EndpointStub()
    aws_clients.install("sagemaker-runtime", stub.client)
    with stub.stubber:
        yield stub
    aws_clients.reset_clients()


def deployed(assembly):
    with local_cloud():
        local = LocalAws(assembly)
        local.deploy()
        yield local


def enforced(assembly, local):
    """The IAM check of every call made while the test runs; any denial it did not take fails it."""
    with enforce_iam(assembly, local.resolver) as enforcement:
        yield enforcement
    assert not enforcement.denials, "denied by the synthesized policies:\n" + "\n".join(
        d.describe() for d in enforcement.denials)


@pytest.fixture
def deployed_app(assembly):
    yield from deployed(assembly)


@pytest.fixture
def iam(deployed_app, assembly):
    yield from enforced(assembly, deployed_app)


@pytest.fixture
def aws(deployed_app, iam):
    return deployed_app


@pytest.fixture(scope="module")
def short_review_assembly(tmp_path_factory):
    """The app synthesized with review_timeout_hours set through the config (as `-c` would)."""
    from scones.local.cloud_assembly import synthesize

    return synthesize(tmp_path_factory.mktemp("cdk.out-short-review"),
                      context={"review_timeout_hours": SHORT_REVIEW_TIMEOUT_HOURS})


@pytest.fixture
def aws_short_review(short_review_assembly):
    for local in deployed(short_review_assembly):
        for _ in enforced(short_review_assembly, local):
            yield local
