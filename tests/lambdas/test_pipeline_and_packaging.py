"""The three handlers chained as the state machine chains them, and each function as its own asset."""
from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from PIL import Image

from lambda_helpers import invoke
from lambdas.classify import handler as classify_handler
from lambdas.filter import handler as filter_handler
from lambdas.serialize import handler as serialize_handler

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
FUNCTIONS = ("serialize", "classify", "filter")


def test_real_images_flow_through_serialize_classify_filter(s3, bucket, labelled_images, lambda_context,
                                                            monkeypatch):
    """Serialize (moto S3) -> classify (endpoint stub that is sure of the true class) -> filter."""
    monkeypatch.setenv("ENDPOINT_NAME", "scones-vehicle-classifier")
    monkeypatch.setenv("MODEL_VERSION", "v7")
    client = classify_handler.get_sagemaker_client()
    sent_images = []

    def capture_body(params, **_):
        sent_images.append(Image.open(io.BytesIO(params["Body"])).size)

    client.meta.events.register("before-parameter-build.sagemaker-runtime.InvokeEndpoint", capture_body)
    decisions = []
    with Stubber(client) as endpoint:
        for image in labelled_images:
            key = f"incoming/{image.path.name}"
            s3.put_object(Bucket=bucket, Key=key, Body=image.data)
            probabilities = [0.0, 0.0]
            probabilities[image.label] = 0.96
            probabilities[1 - image.label] = 0.04
            body = json.dumps(probabilities).encode()
            endpoint.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(body), len(body))},
                                  {"EndpointName": "scones-vehicle-classifier", "ContentType": "image/png",
                                   "Accept": "application/json", "Body": ANY})
            execution_id = f"exec-{image.path.stem}"

            serialized = invoke(serialize_handler.handler,
                                {"bucket": bucket, "key": key, "etag": None, "version_id": None,
                                 "size": len(image.data), "execution_id": execution_id}, lambda_context)
            assert serialized["valid"] is True
            classified = invoke(classify_handler.handler, {"image": serialized, "execution_id": execution_id},
                                lambda_context)
            decided = invoke(filter_handler.handler, {"classification": classified, "execution_id": execution_id},
                             lambda_context)
            decisions.append((image, decided))
        endpoint.assert_no_pending_responses()

    assert len(sent_images) == len(labelled_images)
    assert all(size == (32, 32) for size in sent_images)
    for image, decided in decisions:
        assert decided["label"] == image.class_name
        assert decided["confident"] is True
        assert decided["key"] == f"incoming/{image.path.name}"
        assert decided["model_version"] == "v7"
        assert decided["etag"] == s3.head_object(Bucket=bucket, Key=decided["key"])["ETag"].strip('"')


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_sources_use_only_relative_imports(function):
    for path in (LAMBDAS_DIR / function).rglob("*.py"):
        source = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+lambdas\b", source, re.M), f"{path}: absolute 'lambdas' import"
        others = [f for f in FUNCTIONS if f != function]
        for other in others:
            assert not re.search(rf"^\s*from\s+\.\.{other}\b", source, re.M), f"{path}: imports {other}"
        assert "sagemaker" not in re.findall(r"^\s*(?:from|import)\s+(\w+)", source, re.M), f"{path}: SageMaker SDK"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_imports_as_a_top_level_package(tmp_path, function):
    """As deployed: the package folder at the asset root, handler string '<function>.handler.handler'."""
    shutil.copytree(LAMBDAS_DIR / function, tmp_path / function,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONPATH=str(tmp_path), POWERTOOLS_TRACE_DISABLED="true", AWS_DEFAULT_REGION="us-east-1")
    code = (
        "import importlib, json, sys\n"
        f"module = importlib.import_module('{function}.handler')\n"
        "assert callable(module.handler)\n"
        "print(json.dumps({'file': module.__file__, 'lambdas_loaded': 'lambdas' in sys.modules}))\n"
    )
    completed = subprocess.run([sys.executable, "-s", "-c", code], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    info = json.loads(completed.stdout.strip().splitlines()[-1])
    assert info["file"].startswith(str(tmp_path))
    assert info["lambdas_loaded"] is False
