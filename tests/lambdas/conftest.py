"""Fixtures for the Lambda function tests: isolated AWS env, moto S3, fake Lambda context, EMF capture,
and IAM enforced: every AWS call a function's code makes is checked against that function's role
in the synthesized templates (scones.local.iam_enforcement), so the tests use the resources the
templates name (the data bucket, the endpoint); a test in which a call was denied fails unless it
takes the denial (`iam.take_denials()`)."""
from __future__ import annotations

import io
import json
from types import SimpleNamespace

import pytest
from moto import mock_aws

from lambdas.serialize import handler as serialize_handler
from lambdas.shared.aws_clients import reset_clients
from scones.local.iam_enforcement import enforce_iam
from scones.local.iam_roles import TemplateRoles
from tests.conftest import set_fake_aws_env
from tests import image_factory
from tests.lambdas.lambda_helpers import DATA_BUCKET, WORKFLOW_ENVIRONMENT, parse_emf

BUCKET = DATA_BUCKET  # the data bucket as the templates name it (moto's account and region)

_OVERRIDES = (
    "PAYLOAD_MAX_BYTES", "CONNECT_TIMEOUT_SECONDS", "PROBABILITY_SUM_TOLERANCE", "POWERTOOLS_DEV",
    "POWERTOOLS_METRICS_DISABLED", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
)


@pytest.fixture(autouse=True)
def lambda_env(monkeypatch):
    """Fake credentials, a fixed region, no endpoint overrides, the environment the workflow stack sets."""
    set_fake_aws_env(monkeypatch, clear=_OVERRIDES)
    for name, value in WORKFLOW_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    reset_clients()
    yield
    reset_clients()


@pytest.fixture(scope="session")
def roles_for(tmp_path_factory):
    """`roles_for(key=value...)`: the roles of the app synthesized with those config overrides, for a
    test of a configuration the default templates do not declare (cached per worker)."""
    from scones.local.cloud_assembly import synthesize

    cache: dict = {}

    def roles(**context) -> TemplateRoles:
        key = tuple(sorted(context.items()))
        if key not in cache:
            cache[key] = TemplateRoles(synthesize(tmp_path_factory.mktemp("cdk.out"), context=dict(context)))
        return cache[key]

    return roles


@pytest.fixture(autouse=True)
def iam(assembly):
    """IAM enforced against the synthesized roles while the test runs (see the module docstring)."""
    with enforce_iam(assembly, roles=TemplateRoles(assembly)) as enforcement:
        yield enforcement
    assert not enforcement.denials, "denied by the synthesized policies:\n" + "\n".join(
        d.describe() for d in enforcement.denials)


@pytest.fixture
def lambda_context():
    """Only the four attributes the real context is documented to have here."""
    return SimpleNamespace(
        function_name="scones-test-function",
        aws_request_id="11111111-2222-3333-4444-555555555555",
        memory_limit_in_mb=512,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:scones-test-function",
    )


@pytest.fixture
def s3():
    """A moto S3 with the upload bucket; the serialize handler's cached client is created inside the mock."""
    with mock_aws():
        client = serialize_handler.s3_client()
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def bucket() -> str:
    return BUCKET


@pytest.fixture(scope="session")
def labelled_images():
    images = image_factory.labelled_images()
    assert {i.class_name for i in images} == {"bicycle", "motorcycle"}
    return images


@pytest.fixture(scope="session")
def base_png(labelled_images) -> bytes:
    return labelled_images[0].data


@pytest.fixture(scope="session")
def large_jpeg() -> bytes:
    data = image_factory.large_photo_jpeg()
    assert len(data) > 2 * 1024 * 1024, "the generated photo should be a few MB"
    return data


@pytest.fixture
def emf(capsys):
    """Call ``emf()`` after invoking a handler: the EMF records printed so far."""
    return lambda: parse_emf(capsys.readouterr().out)


@pytest.fixture
def captured_logs():
    """Redirect a handler module's Powertools Logger into a buffer: ``captured_logs(module)()`` -> records."""
    restore = []

    def capture(module):
        handler = module.logger.registered_handler
        buffer = io.StringIO()
        previous = handler.setStream(buffer)
        restore.append((handler, previous))

        def records() -> list[dict]:
            return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]

        return records

    yield capture
    for handler, previous in restore:
        handler.setStream(previous)
