"""The three workflow handlers chained as the state machine chains them, and every function's asset
as deployed: complete, importable on its own, and configured by what the stack sets."""
from __future__ import annotations

import io
import json
import site
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from PIL import Image

from lambdas.check_confidence import handler as confidence_handler
from lambdas.classify import handler as classify_handler
from lambdas.serialize import handler as serialize_handler
from tests.lambdas.lambda_helpers import WORKFLOW_ENVIRONMENT, invoke


def test_real_images_flow_through_serialize_classify_check_confidence(s3, bucket, labelled_images, lambda_context,
                                                            monkeypatch):
    """Serialize (moto S3) -> classify (endpoint stub that is sure of the true class) -> check confidence."""
    client = classify_handler.sagemaker_client()
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
            decided = invoke(confidence_handler.handler, {"classification": classified, "execution_id": execution_id},
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


# ------------------------------------------------------------------------------------- assets
PROJECT_PACKAGES = ("lambdas", "scones_contracts", "scones_imaging", "scones", "stacks", "training")
# The functions with the official Powertools layer get it (and pydantic, which the layer bundles);
# the others run on the Lambda runtime's boto3 alone.
LAYERED = {"serialize", "classify", "check_confidence", "batch_summary", "open_review", "expire_review",
           "review_api"}  # on the Powertools layer
PRODUCT_FUNCTIONS = ["serialize", "classify", "check_confidence", "open_review", "expire_review", "review_api",
                     "drift", "training_job", "batch_summary", "endpoint_scaling"]

IMPORT_AS_DEPLOYED = r"""
import importlib, json, sys
asset, handler, site_packages = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path[:] = [p for p in sys.path if p]  # not the working directory
sys.path.extend(site_packages)  # third-party code only: no .pth file runs, so no editable project install
sys.path.append(asset)  # after site-packages: the asset's own platform wheels (arm64) cannot load here
module_name, _, attribute = handler.rpartition(".")
assert callable(getattr(importlib.import_module(module_name), attribute))
print(json.dumps({name: getattr(m, "__file__", None) for name, m in sys.modules.items()}))
"""


def deployed_functions(assembly) -> dict[str, tuple[str, Path, dict]]:
    """package -> (Handler, asset folder, environment) of every product function in the synthesized app."""
    found = {}
    for template in assembly.templates.values():
        for resource in template["Resources"].values():
            props = resource.get("Properties", {})
            handler = str(props.get("Handler", ""))
            if resource["Type"] == "AWS::Lambda::Function" and handler.startswith("lambdas."):
                asset = Path(assembly.outdir) / f"asset.{props['Code']['S3Key'].removesuffix('.zip')}"
                found[handler.split(".")[1]] = (handler, asset, props.get("Environment", {}).get("Variables", {}))
    return found


def test_every_product_function_is_found(assembly):
    assert set(deployed_functions(assembly)) == set(PRODUCT_FUNCTIONS)


@pytest.mark.parametrize("package", PRODUCT_FUNCTIONS)
def test_each_asset_imports_its_handler_from_itself_alone(assembly, package, tmp_path):
    handler, asset, _ = deployed_functions(assembly)[package]
    module_name = handler.rsplit(".", 1)[0]
    completed = subprocess.run(
        [sys.executable, "-S", "-s", "-c", IMPORT_AS_DEPLOYED, str(asset), handler, *site.getsitepackages()],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"})
    assert completed.returncode == 0, completed.stderr
    modules = json.loads(completed.stdout.strip().splitlines()[-1])
    project = {name: path for name, path in modules.items() if name.split(".")[0] in PROJECT_PACKAGES}
    assert module_name in project
    outside = {name: path for name, path in project.items() if not path or not Path(path).is_relative_to(asset)}
    assert outside == {}, f"imported from outside the asset: {outside}"
    assert not {name.split(".")[0] for name in project} & {"scones", "stacks", "training"}
    layer_modules = {name.split(".")[0] for name in modules} & {"aws_lambda_powertools", "pydantic"}
    assert bool(layer_modules) == (package in LAYERED), layer_modules


def test_the_tests_run_the_workflow_functions_with_the_stacks_environment(assembly):
    functions = deployed_functions(assembly)
    deployed = {}
    for package in ("serialize", "classify", "check_confidence"):
        deployed.update(functions[package][2])
    for name in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL"):
        deployed.pop(name)
    assert set(deployed) == set(WORKFLOW_ENVIRONMENT)
    differing = {k for k in deployed if deployed[k] != WORKFLOW_ENVIRONMENT[k]}
    assert differing == {"MODEL_VERSION"}  # the training job's name in the app, a fixed 'v7' in the tests
