"""Fixtures of the state-machine tests: the synthesized app in moto (`LocalAws`), and a scripted endpoint.

Resources come from the templates (scones.local.aws.LocalAws), the real handlers run in-process
(scones.local.lambda_hook, scones.local.moto_shims), and the SageMaker endpoint is stubbed at the
boto3 level (scripted answers on the classify function's client, through botocore's before-call
event). IAM is enforced: every call is checked against the synthesized role it runs as (scones.local.iam_enforcement), and a test in which
any call was denied fails.
"""
from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.awsrequest import AWSResponse

from lambdas.shared import aws_clients
from scones.local.aws import LocalAws
from scones.local.iam_enforcement import enforce_iam
from scones.local.moto_shims import local_cloud

# A review timeout of 2 s (review_timeout_hours is a float; the callback task's TimeoutSeconds is rounded).
SHORT_REVIEW_TIMEOUT_HOURS = "0.0005"


class EndpointStub:
    """Scripted answers of the SageMaker endpoint, at the boto3 client level.

    Answers are consumed in order by InvokeEndpoint calls (botocore's `before-call` event, after the
    IAM check); `pending` is what is still unanswered and `calls` how many calls arrived, so tests
    can say "the endpoint was never called" without reaching into a Stubber's private queue.
    """

    EXPECTED = {"ContentType": "image/png", "Accept": "application/json"}

    def __init__(self) -> None:
        self.client = boto3.client("sagemaker-runtime", region_name="us-east-1")
        self.pending: list[tuple[AWSResponse, dict]] = []
        self.calls = 0
        # As botocore's Stubber: check the parameters before they are serialized, answer before the call.
        self.client.meta.events.register("before-parameter-build.sagemaker-runtime.InvokeEndpoint", self._check)
        self.client.meta.events.register("before-call.sagemaker-runtime.InvokeEndpoint", self._respond)

    def answer(self, probabilities: list[float]) -> None:
        body = json.dumps(probabilities).encode()
        self.pending.append((AWSResponse(None, 200, {}, None), {
            "Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": "application/json",
            "InvokedProductionVariant": "AllTraffic", "ResponseMetadata": {"HTTPStatusCode": 200}}))

    def fail(self, code: str, status: int, **extra) -> None:
        self.pending.append((AWSResponse(None, status, {}, None), {
            "Error": {"Code": code, "Message": f"stub {code}"}, "ResponseMetadata": {"HTTPStatusCode": status},
            **extra}))

    def _check(self, params: dict, **_) -> None:
        self.calls += 1
        sent = {name: params.get(name) for name in self.EXPECTED}
        assert sent == self.EXPECTED and params.get("EndpointName") and params.get("Body"), params

    def _respond(self, **_) -> tuple[AWSResponse, dict]:
        assert self.pending, "InvokeEndpoint called with no scripted answer left"
        return self.pending.pop(0)


@pytest.fixture
def endpoint():
    stub = EndpointStub()
    aws_clients.install("sagemaker-runtime", stub.client)
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
