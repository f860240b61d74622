"""training/train.py and training/serve.py under the real SageMaker PyTorch toolkits, as deployed.

Training: the CreateTrainingJob request is the one the training-job provider builds from the
synthesized template's custom resource (a synth with a short `training_hyperparameters`, the knob a
retraining uses), so the hyperparameters are JSON-encoded strings exactly as SageMaker gets them.
The /opt/ml layout (SAGEMAKER_BASE_DIR) is written from that request; the code channel is the code
asset from cdk.out, published to S3 (moto in server mode) as `cdk deploy` publishes it, and the
toolkit downloads it from `sagemaker_submit_directory`; the data channel is the sample data asset.
Then sagemaker-training's real `train` entry point runs with sagemaker-pytorch-training's framework
module, in a process that does not see this checkout (tests/sagemaker_containers.py).

Serving: the model directory the job leaves (SM_MODEL_DIR, which SageMaker tars) is unpacked as the
endpoint unpacks it and served by TorchServe's real backend worker with the SageMaker handler
service and the model's container environment from the template.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pytest
from PIL import Image

from lambdas.training_job.jobs import create_request
from scones.local.cfn import Resolver
from scones.local.cloud_assembly import synthesize
from tests.sagemaker_containers import ServingContainer, container_env

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, REGION = "123456789012", "us-east-1"
# A short training, as a retraining would set it (`-c training_hyperparameters=...`).
SHORT_TRAINING = {"seed": 7, "steps": 30, "width": 8, "members": 1, "batch-size": 64, "threads": 1, "precision": "fp32"}
PYTORCH_TRAINING_MODULE = "sagemaker_pytorch_container.training:main"  # set by the PyTorch training image
TRAIN_ENTRY_POINT = Path(sys.executable).parent / "train"  # sagemaker-training's console script
FIXTURE_IMAGES = ROOT / "tests" / "fixtures" / "images"


# ------------------------------------------------------------------------------- the template's request


def _find_in_map(value, mappings: dict):
    """Fn::FindInMap resolved against the template's Mappings (the local resolver does the rest)."""
    if isinstance(value, list):
        return [_find_in_map(v, mappings) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::FindInMap"}:
        name, top, second = value["Fn::FindInMap"]
        top = REGION if top == {"Ref": "AWS::Region"} else top
        return mappings[name][top][second]
    return {k: _find_in_map(v, mappings) for k, v in value.items()}


@pytest.fixture(scope="module")
def short_training_assembly(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("cdk.out"),
                      context={"training_hyperparameters": json.dumps(SHORT_TRAINING)})


@pytest.fixture(scope="module")
def training_request(short_training_assembly) -> dict:
    (stack, resource), = short_training_assembly.resources("Custom::SageMakerTrainingJob").values()
    template = short_training_assembly.templates[stack]
    resolver = Resolver(ACCOUNT, REGION)
    for logical_id, other in template["Resources"].items():
        if other["Type"] == "AWS::IAM::Role":
            resolver.register(logical_id, logical_id, Arn=f"arn:aws:iam::{ACCOUNT}:role/{logical_id}")
    properties = {k: v for k, v in resource["Properties"].items() if k != "ServiceToken"}
    return create_request(resolver.resolve(_find_in_map(properties, template.get("Mappings", {}))))


def _cdk_out_asset(assembly, stack_suffix: str, object_key: str) -> Path:
    """The staged file of the asset `cdk deploy` publishes under `object_key`."""
    for manifest in assembly.outdir.glob(f"*{stack_suffix}*.assets.json"):
        for asset in json.loads(manifest.read_text())["files"].values():
            if any(d["objectKey"] == object_key for d in asset["destinations"].values()):
                return assembly.outdir / asset["source"]["path"]
    raise AssertionError(f"no asset published as {object_key} in {assembly.outdir}")


def _sample_data_asset(assembly) -> Path:
    staged = [p for p in assembly.outdir.glob("asset.*") if (p / "train.lst").is_file()]
    assert len(staged) == 1, staged
    return staged[0]


# ------------------------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def moto_s3():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def training_job(training_request, short_training_assembly, moto_s3, tmp_path_factory):
    """Run the real `train` on an /opt/ml layout built from the request; return (base dir, log)."""
    request = training_request
    hyperparameters = request["HyperParameters"]
    code_url = urlparse(json.loads(hyperparameters["sagemaker_submit_directory"]))
    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name=REGION)
    s3.create_bucket(Bucket=code_url.netloc)
    code_asset = _cdk_out_asset(short_training_assembly, "Model", code_url.path.lstrip("/"))
    s3.put_object(Bucket=code_url.netloc, Key=code_url.path.lstrip("/"), Body=code_asset.read_bytes())

    base = tmp_path_factory.mktemp("opt_ml")
    config = base / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "inputdataconfig.json").write_text(json.dumps({
        channel["ChannelName"]: {"TrainingInputMode": channel["InputMode"], "RecordWrapperType": "None",
                                 "S3DistributionType": channel["DataSource"]["S3DataSource"]["S3DataDistributionType"]}
        for channel in request["InputDataConfig"]}))
    instance_type = request["ResourceConfig"]["InstanceType"]
    (config / "resourceconfig.json").write_text(json.dumps({
        "current_host": "algo-1", "current_instance_type": instance_type, "current_group_name": "homogeneousCluster",
        "hosts": ["algo-1"], "network_interface_name": "eth0",
        "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": instance_type,
                             "hosts": ["algo-1"]}]}))
    for channel in request["InputDataConfig"]:
        shutil.copytree(_sample_data_asset(short_training_assembly), base / "input" / "data" / channel["ChannelName"])

    env = container_env({
        "SAGEMAKER_BASE_DIR": str(base), "SAGEMAKER_TRAINING_MODULE": PYTORCH_TRAINING_MODULE,
        "TRAINING_JOB_NAME": request["TrainingJobName"], "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_S3": moto_s3, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        # The one host is "algo-1", a name only SageMaker's network resolves: the toolkit's own
        # switch for runs outside it skips the DNS wait.
        "SM_STUDIO_LOCAL_MODE": "true",
    })
    finished = subprocess.run([str(TRAIN_ENTRY_POINT)], cwd=base, env=env, capture_output=True, text=True,
                              timeout=900)
    log = finished.stdout + finished.stderr
    assert finished.returncode == 0, log[-6000:]
    return base, log


def test_the_template_sends_json_encoded_hyperparameters(training_request):
    hyperparameters = training_request["HyperParameters"]

    decoded = {k: json.loads(v) for k, v in hyperparameters.items() if not k.startswith("sagemaker_")}
    assert {k: decoded.get(k) for k in SHORT_TRAINING} == SHORT_TRAINING
    assert json.loads(hyperparameters["sagemaker_program"]) == "train.py"
    assert json.loads(hyperparameters["sagemaker_submit_directory"]).startswith(f"s3://cdk-")
    assert [c["ChannelName"] for c in training_request["InputDataConfig"]] == ["training"]


def test_the_toolkit_runs_train_py_from_the_code_asset_on_its_channel(training_job):
    base, log = training_job

    assert (base / "output" / "success").is_file() and not (base / "output" / "failure").exists()
    assert "Invoking user training script" in log
    assert (base / "code" / "train.py").is_file()  # the toolkit unpacked the code asset it downloaded
    channel_list = base / "input" / "data" / "training" / "train.lst"
    assert re.search(rf"loaded 1000 images from {re.escape(str(channel_list))}", log), log[-3000:]
    assert re.search(r"validation: accuracy [0-9.]+", log)


def test_sm_model_dir_is_the_layout_the_endpoint_loads(training_job):
    base, _ = training_job
    model_dir = base / "model"
    files = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file())

    assert {"model.pth", "metadata.json", "baseline.json", "code/inference.py", "code/training/serve.py"} <= set(files)
    assert not [f for f in files if f.endswith((".tar.gz", ".tar", ".tgz"))], files  # SageMaker tars this dir itself
    metadata = json.loads((model_dir / "metadata.json").read_text())
    # the JSON-encoded hyperparameters arrived decoded: the short configuration was trained
    assert metadata["architecture"]["width"] == SHORT_TRAINING["width"]
    assert metadata["architecture"]["members"] == SHORT_TRAINING["members"]


# -------------------------------------------------------------------------------------------- serving


@pytest.fixture(scope="module")
def endpoint_model_dir(training_job, tmp_path_factory) -> Path:
    """SM_MODEL_DIR packed as SageMaker packs it (model.tar.gz) and unpacked as the endpoint unpacks it."""
    base, _ = training_job
    packed = tmp_path_factory.mktemp("s3-output") / "model.tar.gz"
    with tarfile.open(packed, "w:gz") as archive:
        for path in sorted((base / "model").iterdir()):
            archive.add(path, arcname=path.name)
    model_dir = tmp_path_factory.mktemp("opt_ml_model")
    with tarfile.open(packed) as archive:
        archive.extractall(model_dir, filter="data")
    return model_dir


@pytest.fixture(scope="module")
def container(endpoint_model_dir, short_training_assembly, tmp_path_factory):
    (_, model), = short_training_assembly.resources("AWS::SageMaker::Model").values()
    environment = Resolver(ACCOUNT, REGION).resolve(model["Properties"]["PrimaryContainer"]["Environment"])
    assert environment["SAGEMAKER_PROGRAM"] == "inference.py"
    with ServingContainer(endpoint_model_dir, environment, tmp_path_factory.mktemp("torchserve")) as worker:
        yield worker


@pytest.fixture(scope="module")
def in_process(endpoint_model_dir):
    """The same artifact through the handlers in this process: what the container must answer."""
    from training.serve import input_fn, model_fn, output_fn, predict_fn

    model = model_fn(endpoint_model_dir)
    return lambda body, content_type, accept="application/json": json.loads(
        output_fn(predict_fn(input_fn(body, content_type), model), accept))


def _serialized_png() -> bytes:
    """The PNG the serialize Lambda hands on for an upload (its pure core, default settings)."""
    from lambdas.serialize.rendition import render
    from lambdas.serialize.settings import Settings

    upload = (FIXTURE_IMAGES / "motorcycle_s_001453.png").read_bytes()
    return render(upload, Settings()).png_bytes


def test_the_serialize_png_and_a_large_jpeg_are_classified(container, in_process):
    from tests.image_factory import large_photo_jpeg

    large_jpeg = large_photo_jpeg()
    assert len(large_jpeg) > 1_000_000
    for body, content_type in ((_serialized_png(), "image/png"), (large_jpeg, "image/jpeg")):
        answer = container.invoke(body, {"content-type": content_type, "accept": "application/json"})

        assert answer.status == 200, answer.body[:2000]
        assert answer.content_type == "application/json"
        probabilities = json.loads(answer.body)
        assert probabilities == in_process(body, content_type)
        assert len(probabilities) == 2 and abs(sum(probabilities) - 1) < 1e-6


def _png(side: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (40, 90, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def _gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buffer, format="GIF")
    return buffer.getvalue()


# Every client mistake the endpoint can receive, and the 4xx the toolkit must answer it with.
BAD_REQUESTS = [
    ("empty body", b"", {"content-type": "image/png"}, 400, "empty"),
    ("text instead of an image", b"definitely not an image", {"content-type": "image/png"}, 400, "not a recognised image"),
    ("truncated png", _png()[:60], {"content-type": "image/png"}, 400, ""),
    ("gif sent as png", _gif(), {"content-type": "image/png"}, 400, ""),
    ("decompression bomb", None, {"content-type": "image/png"}, 413, ""),
    ("gif content type", _gif(), {"content-type": "image/gif"}, 415, "unsupported content type"),
    ("no content type", _png(), {}, 415, "unsupported content type"),
    ("octet-stream", _png(), {"content-type": "application/octet-stream"}, 415, "unsupported content type"),
    ("csv text", b"1,2,3\n", {"content-type": "text/csv"}, 415, "unsupported content type"),
    ("json text", b'{"image": "x"}', {"content-type": "application/json"}, 415, "unsupported content type"),
    ("csv accept", _png(), {"content-type": "image/png", "accept": "text/csv"}, 406, "cannot produce"),
    ("image accept", _png(), {"content-type": "image/png", "accept": "image/png"}, 406, "cannot produce"),
]


@pytest.mark.parametrize("name, body, headers, status, fragment", BAD_REQUESTS, ids=[r[0] for r in BAD_REQUESTS])
def test_every_bad_request_is_a_4xx_from_the_toolkit(container, endpoint_model_dir, name, body, headers, status,
                                                     fragment):
    from scones.local.hostile_files import bomb_png

    body = bomb_png() if body is None else body
    answer = container.invoke(body, headers)

    assert answer.status == status, answer.body[:3000]
    message, _, trace = answer.body.decode().partition("\n")
    assert fragment in message
    # the toolkit answered from the model's own code/, not from this checkout
    assert f'File "{endpoint_model_dir / "code" / "training" / "serve.py"}"' in trace


def test_a_binary_body_labelled_csv_fails_inside_the_toolkit(container):
    """Known toolkit limit: it UTF-8-decodes text/csv and application/json bodies before any handler
    runs, so a binary body with those types is its own 500. The classify Lambda sends image/png."""
    answer = container.invoke(_png(), {"content-type": "text/csv"})

    assert answer.status == 500
    assert "codec can't decode" in answer.body.decode()
    assert "sagemaker_inference/transformer.py" in answer.body.decode()


def test_the_toolkit_errors_load_without_the_inference_toolkit():
    """The training image evaluates a test channel through training.serve without sagemaker-inference."""
    script = ("import sys; sys.modules['sagemaker_inference'] = None\n"
              "from training.serve import InvalidImageError, UnsupportedAcceptError\n"
              "error = InvalidImageError('empty request body')\n"
              "print(error.status_code, error.message, str(error), UnsupportedAcceptError('x').status_code)\n")
    finished = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split() == ["400", "empty", "request", "body", "empty", "request", "body", "406"]
