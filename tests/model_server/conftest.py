"""Fixtures for the local model server: ONE tiny real model trained per test session, servers on free ports,
and the real SageMaker serving container (TorchServe's worker + the toolkit) to compare them with."""
from __future__ import annotations

import csv
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import set_fake_aws_env
from tests.model_server.server_support import CLASSIFY_CONTEXT, ENDPOINT

ROOT = Path(__file__).resolve().parents[2]
IMAGES_DIR = ROOT / "tests" / "fixtures" / "images"
# `tiny_model_path` (a real, tiny training run) comes from tests/conftest.py.

_AWS_ENV_CLEARED = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "ENDPOINT_NAME",
                    "CLASS_NAMES", "MODEL_VERSION", "INVOKE_TIMEOUT_SECONDS", "CONNECT_TIMEOUT_SECONDS")


@dataclass(frozen=True)
class FixtureImage:
    name: str
    class_name: str
    png: bytes

    def jpeg(self) -> bytes:
        buffer = io.BytesIO()
        Image.open(io.BytesIO(self.png)).convert("RGB").save(buffer, format="JPEG", quality=92)
        return buffer.getvalue()


@pytest.fixture(scope="session")
def reference_model(tiny_model_path):
    """The artifact loaded in-process with the serving handlers: what the server must agree with."""
    from training.serve import model_fn

    return model_fn(tiny_model_path)


@pytest.fixture(scope="session")
def predict_locally(reference_model):
    """predict_locally(body, content_type, accept) -> the bytes output_fn gives in this process."""
    from training.serve import input_fn, output_fn, predict_fn

    def predict(body: bytes, content_type: str = "image/png", accept: str = "application/json") -> bytes:
        return output_fn(predict_fn(input_fn(body, content_type), reference_model), accept)

    return predict


@pytest.fixture(scope="session")
def images() -> list[FixtureImage]:
    with open(IMAGES_DIR / "labels.tsv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    found = [FixtureImage(r["filename"], r["class_name"], (IMAGES_DIR / r["filename"]).read_bytes()) for r in rows]
    assert len(found) >= 4 and {i.class_name for i in found} == {"bicycle", "motorcycle"}
    return found


@pytest.fixture
def make_server(tiny_model_path):
    """make_server(**kwargs) -> a started ModelServer on a free 127.0.0.1 port, stopped after the test."""
    from scones.local.model_server import ModelServer

    started = []

    def make(**kwargs):
        kwargs.setdefault("endpoint_name", ENDPOINT)
        server = ModelServer(tiny_model_path, host="127.0.0.1", port=0, **kwargs)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def server(tiny_model_path):
    """One shared server (no capture, no faults) for the read-only tests."""
    from scones.local.model_server import ModelServer

    with ModelServer(tiny_model_path, host="127.0.0.1", port=0, endpoint_name=ENDPOINT) as shared:
        yield shared


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    """Fake credentials and a region; no endpoint overrides leaking in from the environment."""
    set_fake_aws_env(monkeypatch, clear=_AWS_ENV_CLEARED)


@pytest.fixture
def runtime_client():
    """runtime_client(url=None, attempts=1) -> a real boto3 sagemaker-runtime client.

    With url=None the client finds the server through AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, as the
    classify Lambda does. One attempt by default, so an error surfaces at once.
    """
    import boto3
    from botocore.config import Config

    def make(url: str | None = None, attempts: int = 1):
        config = Config(retries={"total_max_attempts": attempts, "mode": "standard"}, read_timeout=30)
        return boto3.client("sagemaker-runtime", endpoint_url=url, config=config)

    return make


@pytest.fixture(scope="session")
def model_container_environment(assembly) -> dict[str, str]:
    """The serving container's environment as the synthesized model stack declares it."""
    from scones.local.cfn import Resolver

    (_, model), = assembly.resources("AWS::SageMaker::Model").values()
    return Resolver("123456789012", "us-east-1").resolve(model["Properties"]["PrimaryContainer"]["Environment"])


@pytest.fixture(scope="session")
def serving_container(tiny_model_path, model_container_environment, tmp_path_factory):
    """The tiny model in the real SageMaker PyTorch serving container's Python side (tests/sagemaker_containers.py)."""
    from tests.sagemaker_containers import ServingContainer

    model_dir = tmp_path_factory.mktemp("opt_ml_model")
    with tarfile.open(tiny_model_path) as archive:
        archive.extractall(model_dir, filter="data")
    with ServingContainer(model_dir, model_container_environment, tmp_path_factory.mktemp("torchserve")) as worker:
        yield worker


@pytest.fixture
def classify_against(monkeypatch):
    """classify_against(server) -> a function calling the real classify handler with the server as its endpoint."""
    from lambdas.classify import handler as classify_handler
    from lambdas.shared.aws_clients import reset_clients

    def point(server, endpoint_name: str = ENDPOINT):
        monkeypatch.setenv("ENDPOINT_NAME", endpoint_name)
        monkeypatch.setenv("MODEL_VERSION", server.model_version)
        monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "SconesUnlimited")
        monkeypatch.setenv("CLASS_NAMES", "bicycle,motorcycle")
        monkeypatch.setenv("INVOKE_TIMEOUT_SECONDS", "20")
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
        reset_clients()
        return lambda event: classify_handler.handler(event, CLASSIFY_CONTEXT)

    yield point
    reset_clients()
