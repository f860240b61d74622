"""The app's routes over real HTTP: the container contract, the SageMaker Runtime API (boto3, the SageMaker
Python SDK, the classify Lambda), data capture and statistics."""
from __future__ import annotations

import io
import json
import re
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from PIL import Image

from lambdas.drift.capture import parse_paths
from scones.local.model_server_app import create_app
from scones.local.model_server_errors import EndpointIdentity
from scones.local.model_server_host import ModelHost
from tests.model_server.server_support import ENDPOINT, classify_payload, first_line

ROOT = Path(__file__).resolve().parents[2]
SDK_PYTHON = ROOT / ".venv-sdk" / "bin" / "python"
CAPTURE_FILE = re.compile(rf"^{ENDPOINT}/AllTraffic/\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}}/\d{{2}}-\d{{2}}-\d{{3}}-[0-9a-f-]{{36}}\.jsonl$")


def _json(response: httpx.Response):
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


# ----------------------------------------------------------------------------------- container contract


def test_ping_is_200_with_the_model_version(server, reference_model):
    response = httpx.get(f"{server.url}/ping")

    assert response.status_code == 200
    assert _json(response) == {"status": "healthy", "model_version": reference_model.model_version}


def test_ping_and_invocations_are_503_until_the_model_is_loaded(tiny_model_path):
    import anyio

    host = ModelHost(tiny_model_path)
    app = create_app(host, endpoint=EndpointIdentity(ENDPOINT, "AllTraffic", "123456789012", "us-east-1"))

    async def scenario() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            before = [(await client.get("/ping")).status_code,
                      (await client.post("/invocations", content=b"x", headers={"Content-Type": "image/png"})).status_code]
            host.load()
            try:
                return before + [(await client.get("/ping")).status_code]
            finally:
                host.close()

    assert anyio.run(scenario) == [503, 503, 200]


def test_png_and_jpeg_get_the_handlers_probabilities(server, images, predict_locally):
    with httpx.Client(base_url=server.url) as client:
        for image in images:
            for body, content_type in ((image.png, "image/png"), (image.jpeg(), "image/jpeg")):
                response = client.post("/invocations", content=body,
                                       headers={"Content-Type": content_type, "Accept": "application/json"})
                assert response.status_code == 200, response.text
                probabilities = _json(response)
                assert probabilities == json.loads(predict_locally(body, content_type))
                assert len(probabilities) == 2 and sum(probabilities) == pytest.approx(1.0, abs=1e-6)


def test_verbose_accept_gives_labelled_output(server, images, reference_model):
    image = images[-1]
    response = httpx.post(f"{server.url}/invocations", content=image.png,
                          headers={"Content-Type": "image/png", "Accept": "application/json; verbose=true"})

    body = _json(response)
    assert response.status_code == 200
    probabilities = body["probabilities"]
    assert list(probabilities) == reference_model.class_names
    assert body["label"] == max(probabilities, key=probabilities.get)
    assert body["confidence"] == max(probabilities.values())
    assert body["model_version"] == reference_model.model_version


def handler_error(body, content_type, accept, model):
    """The exception the serving handlers themselves raise for this request (run in-process)."""
    import training.serve as serve

    try:
        serve.output_fn(serve.predict_fn(serve.input_fn(body, content_type), model), accept)
    except serve.InferenceError as exc:
        return exc
    raise AssertionError("the handlers accepted the request")


@pytest.mark.parametrize("body, content_type, accept, status", [
    (b"definitely not an image", "image/png", "application/json", 400),
    (b"", "image/png", "application/json", 400),
    (None, "image/gif", "application/json", 415),
    (None, "image/png", "text/csv", 406),
])
def test_handler_errors_keep_their_status_and_message(server, images, reference_model, body, content_type, accept,
                                                      status):
    body = images[0].png if body is None else body
    response = httpx.post(f"{server.url}/invocations", content=body,
                          headers={"Content-Type": content_type, "Accept": accept})

    expected = handler_error(body, content_type, accept, reference_model)
    assert response.status_code == status == expected.status_code
    assert first_line(response.content) == expected.message
    assert f"training.serve.{type(expected).__name__}: {expected.message}" in response.text  # the toolkit's trace


def test_concurrent_requests_all_succeed_and_match_sequential_results(server, images):
    with httpx.Client(base_url=server.url) as client:
        sequential = {i.name: client.post("/invocations", content=i.png,
                                          headers={"Content-Type": "image/png"}).json() for i in images}
    work = [images[n % len(images)] for n in range(32)]
    results: list[tuple[str, int, object]] = []
    lock = threading.Lock()

    def worker(chunk):
        with httpx.Client(base_url=server.url) as client:
            for image in chunk:
                response = client.post("/invocations", content=image.png, headers={"Content-Type": "image/png"})
                with lock:
                    results.append((image.name, response.status_code, response.json()))

    threads = [threading.Thread(target=worker, args=(work[k::8],)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(results) == 32
    assert all(status == 200 for _, status, _ in results)
    assert all(probabilities == sequential[name] for name, _, probabilities in results)


# ----------------------------------------------------------------------------------------- runtime API


def test_invoke_endpoint_via_endpoint_url(server, runtime_client, images, predict_locally):
    client = runtime_client(server.url)
    for image in images:
        response = client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png",
                                          Accept="application/json", Body=image.png)

        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert response["ContentType"] == "application/json"
        assert response["InvokedProductionVariant"] == "AllTraffic"
        assert response["ResponseMetadata"]["RequestId"]
        assert json.loads(response["Body"].read()) == json.loads(predict_locally(image.png))


def test_invoke_endpoint_via_the_environment_variable(server, runtime_client, images, predict_locally, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
    client = runtime_client()  # no endpoint_url: boto3 reads the variable, as the classify Lambda does
    image = images[-1]

    response = client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/jpeg", Body=image.jpeg())

    assert client.meta.endpoint_url == server.url
    assert json.loads(response["Body"].read()) == json.loads(predict_locally(image.jpeg(), "image/jpeg"))


def test_verbose_accept_through_the_runtime_api(server, runtime_client, images, reference_model):
    response = runtime_client(server.url).invoke_endpoint(
        EndpointName=ENDPOINT, ContentType="image/png", Accept="application/json; verbose=true", Body=images[0].png)

    body = json.loads(response["Body"].read())
    assert set(body) == {"label", "confidence", "probabilities", "model_version"}
    assert body["model_version"] == reference_model.model_version
    assert response["ContentType"] == "application/json; verbose=true"  # the toolkit echoes the Accept


def test_concurrent_boto3_invocations_match_the_sequential_results(server, runtime_client, images):
    sequential_client = runtime_client(server.url)
    sequential = {i.name: json.loads(sequential_client.invoke_endpoint(
        EndpointName=ENDPOINT, ContentType="image/png", Body=i.png)["Body"].read()) for i in images}
    work = [images[n % len(images)] for n in range(32)]
    results, errors, lock = [], [], threading.Lock()

    def worker(chunk):
        client = runtime_client(server.url)
        for image in chunk:
            try:
                response = client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png", Body=image.png)
                with lock:
                    results.append((image.name, json.loads(response["Body"].read())))
            except Exception as exc:  # collected: an assertion in a thread would be lost
                with lock:
                    errors.append(exc)

    threads = [threading.Thread(target=worker, args=(work[k::8],)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert len(results) == 32
    assert all(probabilities == sequential[name] for name, probabilities in results)


SDK_SCRIPT = """
import json, sys
import boto3
from sagemaker.deserializers import JSONDeserializer
from sagemaker.predictor import Predictor
from sagemaker.serializers import IdentitySerializer
from sagemaker.session import Session

endpoint_name, image_path = sys.argv[1:3]
session = Session(boto_session=boto3.Session(region_name="us-east-1"))
predictor = Predictor(endpoint_name, sagemaker_session=session, serializer=IdentitySerializer("image/png"),
                      deserializer=JSONDeserializer())
print(json.dumps(predictor.predict(open(image_path, "rb").read())))
"""


def test_the_sagemaker_sdk_predictor_calls_the_local_endpoint(server, images, predict_locally, tmp_path):
    """How a data scientist calls the endpoint from a notebook: sagemaker.predictor.Predictor (README)."""
    assert SDK_PYTHON.exists(), "the SageMaker SDK venv is missing: run `make install`"
    image = tmp_path / images[0].name
    image.write_bytes(images[0].png)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": server.url, "SAGEMAKER_SUPPRESS_V2_WARNING": "true"}

    finished = subprocess.run([str(SDK_PYTHON), "-c", SDK_SCRIPT, ENDPOINT, str(image)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    assert finished.returncode == 0, finished.stderr[-3000:]
    assert json.loads(finished.stdout.strip().splitlines()[-1]) == json.loads(predict_locally(images[0].png))


def test_the_classify_lambda_classifies_through_the_runtime_api(server, classify_against, images, predict_locally):
    classify = classify_against(server)
    for image in images[:4]:
        result = classify(classify_payload(image.png, key=f"incoming/{image.name}"))

        expected = json.loads(predict_locally(image.png))
        assert result["probabilities"] == {"bicycle": expected[0], "motorcycle": expected[1]}
        assert result["key"] == f"incoming/{image.name}"
        assert result["variant"] == "AllTraffic"
        assert result["endpoint_name"] == ENDPOINT and result["model_version"] == server.model_version
        assert result["latency_ms"] > 0


def test_a_resized_png_like_serialize_sends_is_classified(server, classify_against, images, predict_locally):
    """serialize re-encodes uploads as small PNGs; any PNG size goes through the same handlers."""
    buffer = io.BytesIO()
    Image.open(io.BytesIO(images[3].png)).resize((64, 64)).save(buffer, format="PNG")
    classify = classify_against(server)

    result = classify(classify_payload(buffer.getvalue()))

    expected = json.loads(predict_locally(buffer.getvalue()))
    assert list(result["probabilities"].values()) == expected


# ------------------------------------------------------------------------------------ capture and stats


def test_successful_invocations_are_captured_in_the_sagemaker_layout(make_server, runtime_client, images, tmp_path):
    capture_root = tmp_path / "capture"
    srv = make_server(capture_dir=capture_root)
    client = runtime_client(srv.url)
    answers = []
    for image in images:
        response = client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png", Body=image.png)
        answers.append(("image/png", len(image.png), tuple(json.loads(response["Body"].read()))))
    jpeg = images[0].jpeg()
    direct = httpx.post(f"{srv.url}/invocations", content=jpeg, headers={"Content-Type": "image/jpeg"})
    answers.append(("image/jpeg", len(jpeg), tuple(direct.json())))
    # failures are not captured
    with_errors = [httpx.post(f"{srv.url}/invocations", content=b"junk", headers={"Content-Type": "image/png"}),
                   httpx.post(f"{srv.url}/endpoints/{ENDPOINT}/invocations", content=b"junk",
                              headers={"Content-Type": "image/png"})]
    assert [r.status_code for r in with_errors] == [400, 424]

    files = sorted(p.relative_to(capture_root).as_posix() for p in capture_root.rglob("*") if p.is_file())
    assert files and all(CAPTURE_FILE.match(name) for name in files), files
    assert srv.capture_dir == str(capture_root / ENDPOINT / "AllTraffic")
    result = parse_paths(capture_root)
    assert result.bad == []
    captured = sorted((r.input_content_type, r.input_bytes, r.probabilities) for r in result.records)
    assert captured == sorted(answers)
    line = json.loads((capture_root / files[0]).read_text().splitlines()[0])
    assert line["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert line["captureData"]["endpointOutput"] == {"observedContentType": "application/json", "mode": "OUTPUT",
                                                     "data": line["captureData"]["endpointOutput"]["data"],
                                                     "encoding": "JSON"}


def test_capture_report_reads_the_servers_capture(make_server, runtime_client, images, tmp_path, tiny_model_path,
                                                  capsys):
    from scones.cli import main

    capture_root = tmp_path / "capture"
    srv = make_server(capture_dir=capture_root)
    client = runtime_client(srv.url)
    predicted = []
    for image in images * 2:
        probabilities = json.loads(client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png",
                                                          Body=image.png)["Body"].read())
        predicted.append(["bicycle", "motorcycle"][probabilities.index(max(probabilities))])
    capsys.readouterr()

    code = main(["capture-report", "--capture", str(capture_root), "--baseline", str(tiny_model_path), "--json"])

    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert report["records"] == len(predicted) and report["bad_records"] == 0
    assert report["class_counts"] == {"bicycle": predicted.count("bicycle"), "motorcycle": predicted.count("motorcycle")}
    assert report["drift"]["computed"] is True


def test_sampling_percentage_zero_captures_nothing(make_server, runtime_client, images, tmp_path):
    srv = make_server(capture_dir=tmp_path / "capture", sampling_percentage=0)
    client = runtime_client(srv.url)
    for image in images[:3]:
        assert client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png",
                                      Body=image.png)["ResponseMetadata"]["HTTPStatusCode"] == 200

    assert srv.invocation_stats()["succeeded"] == 3
    assert not any(p.is_file() for p in Path(tmp_path / "capture").rglob("*"))


def test_stats_count_both_routes_by_status(make_server, runtime_client, images):
    srv = make_server()
    httpx.post(f"{srv.url}/invocations", content=images[0].png, headers={"Content-Type": "image/png"})
    httpx.post(f"{srv.url}/invocations", content=b"broken", headers={"Content-Type": "image/png"})
    runtime_client(srv.url).invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png", Body=images[0].png)

    stats = httpx.get(f"{srv.url}/stats").json()
    assert stats == srv.invocation_stats()
    assert stats["count"] == 3 and stats["succeeded"] == 2 and stats["errors"] == 1
    assert stats["by_status"] == {"200": 2, "400": 1}
    assert stats["by_route"] == {"invocations": 2, "invoke_endpoint": 1}
    assert len(stats["latencies_ms"]) == 3 and all(ms > 0 for ms in stats["latencies_ms"])
