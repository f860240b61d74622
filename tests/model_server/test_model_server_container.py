"""The SageMaker container contract (GET /ping, POST /invocations) over real HTTP, and the Python API."""
from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

import training.serve as serve
from scones.local.model_server import ModelHost, ModelServer, create_app


def _json(response: httpx.Response):
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def test_ping_is_200_with_the_model_version(server, tiny_model_path, reference_model):
    response = httpx.get(f"{server.url}/ping")

    assert response.status_code == 200
    assert _json(response) == {"status": "healthy", "model_version": reference_model.model_version}
    assert server.url.startswith("http://127.0.0.1:") and server.port > 0


def test_ping_is_503_until_the_model_is_loaded(tiny_model_path):
    import anyio

    host = ModelHost(tiny_model_path)
    app = create_app(host)

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


def handler_error(body, content_type, accept, model) -> serve.InferenceError:
    """The exception the serving handlers themselves raise for this request (run in-process)."""
    try:
        serve.output_fn(serve.predict_fn(serve.input_fn(body, content_type), model), accept)
    except serve.InferenceError as exc:
        return exc
    raise AssertionError("the handlers accepted the request")


@pytest.mark.parametrize("body, content_type, accept, status, error_type", [
    (b"definitely not an image", "image/png", "application/json", 400, "InvalidImageError"),
    (b"", "image/png", "application/json", 400, "InvalidImageError"),
    (None, "text/csv", "application/json", 415, "UnsupportedContentTypeError"),
    (None, "image/png", "text/csv", 406, "UnsupportedAcceptError"),
])
def test_handler_errors_keep_their_status(server, images, reference_model, body, content_type, accept, status,
                                          error_type):
    body = images[0].png if body is None else body
    response = httpx.post(f"{server.url}/invocations", content=body,
                          headers={"Content-Type": content_type, "Accept": accept})

    expected = handler_error(body, content_type, accept, reference_model)
    assert response.status_code == status == expected.status_code
    assert _json(response) == {"code": status, "type": error_type, "message": expected.message}


def test_the_server_calls_training_serve_at_request_time(make_server, images, monkeypatch):
    """No second implementation: patching training.serve.predict_fn changes what the server runs."""
    calls = []
    original = serve.predict_fn

    def spy(data, model):
        calls.append(tuple(data.shape))
        return original(data, model)

    monkeypatch.setattr(serve, "predict_fn", spy)
    srv = make_server()
    response = httpx.post(f"{srv.url}/invocations", content=images[0].png, headers={"Content-Type": "image/png"})

    assert response.status_code == 200
    assert calls == [(1, 3, 32, 32)]


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


def test_predictions_run_in_parallel_worker_threads_bounded_by_max_concurrency(make_server, images, monkeypatch):
    in_flight, peak, lock = 0, 0, threading.Lock()
    original = serve.predict_fn

    def slow(data, model):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        try:
            time.sleep(0.05)
            return original(data, model)
        finally:
            with lock:
                in_flight -= 1

    monkeypatch.setattr(serve, "predict_fn", slow)
    srv = make_server(max_concurrency=3)
    statuses = []

    def call():
        with httpx.Client(base_url=srv.url) as client:
            for _ in range(2):
                statuses.append(client.post("/invocations", content=images[0].png,
                                            headers={"Content-Type": "image/png"}).status_code)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert statuses == [200] * 16
    assert 2 <= peak <= 3  # concurrent, and never more than max_concurrency at once


def test_python_api_start_stop_context_manager_and_stats(tiny_model_path, images):
    srv = ModelServer(tiny_model_path, port=0)
    with pytest.raises(RuntimeError):
        srv.env  # not started
    with srv:
        url = srv.url
        assert srv.env == {"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": url, "ENDPOINT_NAME": srv.endpoint_name}
        with pytest.raises(RuntimeError):
            srv.start()  # already running
        for body in (images[0].png, b"broken"):
            httpx.post(f"{url}/invocations", content=body, headers={"Content-Type": "image/png"})
        stats = srv.invocation_stats()
        assert httpx.get(f"{url}/stats").json() == stats
        assert srv.model_host.model_dir is not None and (srv.model_host.model_dir / "metadata.json").is_file()
        extracted = srv.model_host.model_dir

    assert stats["count"] == 2 and stats["succeeded"] == 1 and stats["errors"] == 1
    assert stats["by_status"] == {"200": 1, "400": 1}
    assert len(stats["latencies_ms"]) == 2 and all(ms > 0 for ms in stats["latencies_ms"])
    assert not extracted.exists()  # the temporary extraction is removed on stop
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as probe:  # the port is free again
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_a_stopped_server_can_start_again_on_a_fixed_port(tiny_model_path, images):
    srv = ModelServer(tiny_model_path, port=0)
    first = srv.start()
    srv.stop()
    srv.port = int(first.rsplit(":", 1)[1])
    try:
        assert srv.start() == first
        assert httpx.post(f"{first}/invocations", content=images[0].png,
                          headers={"Content-Type": "image/png"}).status_code == 200
    finally:
        srv.stop()


def test_an_extracted_artifact_directory_serves_the_same_answers(tiny_model_path, tmp_path, images, predict_locally):
    import tarfile

    with tarfile.open(tiny_model_path) as archive:
        archive.extractall(tmp_path, filter="data")
    with ModelServer(tmp_path, port=0) as srv:
        response = httpx.post(f"{srv.url}/invocations", content=images[1].png, headers={"Content-Type": "image/png"})
    assert response.json() == json.loads(predict_locally(images[1].png))


def test_a_missing_or_broken_artifact_fails_start(tmp_path):
    with pytest.raises(FileNotFoundError):
        ModelServer(tmp_path / "nope.tar.gz").start()
    broken = tmp_path / "model.tar.gz"
    broken.write_bytes(b"not a tarball")
    with pytest.raises(ValueError):
        ModelServer(broken).start()
