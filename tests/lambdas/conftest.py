"""Fixtures for the Lambda function tests: isolated AWS env, moto S3, fake Lambda context, EMF capture."""
from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

# Must happen before the handler modules (and their module-level Tracer) are imported.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SconesUnlimited")

sys.path.insert(0, str(Path(__file__).resolve().parent))  # image_factory

from moto import mock_aws  # noqa: E402

from tests.conftest import set_fake_aws_env  # noqa: E402

import image_factory  # noqa: E402
from lambda_helpers import parse_emf  # noqa: E402
from lambdas.classify import handler as classify_handler  # noqa: E402
from lambdas.serialize import handler as serialize_handler  # noqa: E402

BUCKET = "scones-uploads-test"

_FUNCTION_ENV = (
    "MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "ALLOWED_FORMATS", "PAYLOAD_MAX_SIDE", "PAYLOAD_MAX_BYTES", "INCOMING_PREFIX",
    "QUARANTINE_PREFIX", "ENDPOINT_NAME", "CLASS_NAMES", "MODEL_VERSION", "INVOKE_TIMEOUT_SECONDS",
    "CONNECT_TIMEOUT_SECONDS", "PROBABILITY_SUM_TOLERANCE", "THRESHOLD", "POWERTOOLS_DEV",
    "POWERTOOLS_METRICS_DISABLED", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
)


def _clear_clients() -> None:
    serialize_handler.get_s3_client.cache_clear()
    classify_handler._client.cache_clear()


@pytest.fixture(autouse=True)
def lambda_env(monkeypatch):
    """Fake credentials, a fixed region, no endpoint overrides, default function settings."""
    set_fake_aws_env(monkeypatch, clear=_FUNCTION_ENV)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    _clear_clients()
    yield
    _clear_clients()


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
        client = serialize_handler.get_s3_client()
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
