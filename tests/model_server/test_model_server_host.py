"""ModelHost: the model served through the SageMaker toolkit's handler service, as TorchServe's worker runs it.

The parity tests send the same request to the local server and to the real serving container's Python
side (TorchServe's backend worker process with the handler service, tests/sagemaker_containers.py)
and require the same status, content type and body: the local server cannot answer differently.
"""
from __future__ import annotations

import io
import re
import threading
import time

import httpx
import pytest
from PIL import Image

import training.serve as serve
from scones.local.hostile_files import bomb_png
from scones.local.model_server_host import (ModelHost, WorkerError, BytesWire, decode_predict_response,
                                            encode_inference_request)
from tests.model_server.server_support import first_line


def _png(side: int = 40) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (180, 60, 20)).save(buffer, format="PNG")
    return buffer.getvalue()


def _large_jpeg() -> bytes:
    from tests.image_factory import large_photo_jpeg

    return large_photo_jpeg()


# (name, body, headers); headers as an HTTP client sends them
REQUESTS = [
    ("png", _png(), {"Content-Type": "image/png", "Accept": "application/json"}),
    ("png without accept", _png(), {"Content-Type": "image/png"}),
    ("any accept", _png(), {"Content-Type": "image/png", "Accept": "*/*"}),
    ("verbose", _png(), {"Content-Type": "image/png", "Accept": "application/json; verbose=true"}),
    ("large jpeg", None, {"Content-Type": "image/jpeg"}),
    ("empty", b"", {"Content-Type": "image/png"}),
    ("not an image", b"definitely not an image", {"Content-Type": "image/png"}),
    ("truncated", _png()[:60], {"Content-Type": "image/png"}),
    ("bomb", bomb_png(), {"Content-Type": "image/png"}),
    ("gif type", _png(), {"Content-Type": "image/gif"}),
    ("octet-stream", _png(), {"Content-Type": "application/octet-stream"}),
    ("csv text", b"1,2,3\n", {"Content-Type": "text/csv"}),
    ("binary as csv", _png(), {"Content-Type": "text/csv"}),
    ("csv accept", _png(), {"Content-Type": "image/png", "Accept": "text/csv"}),
]
# greedy prefix: the last `/training/` of the path (a checkout may itself sit in a folder named training)
_SOURCE = re.compile(r'File "[^"]*/(training/[^"/]+)"')
_ADDRESS = re.compile(r" at 0x[0-9a-f]+>")


def _comparable(body: bytes) -> str:
    """A body with our source files named from the package root (the container runs the artifact's copy
    under model/code/, the local server this checkout's) and object addresses (Pillow's messages name
    a BytesIO) masked: the traces must agree otherwise."""
    return _ADDRESS.sub(" at 0x?>", _SOURCE.sub(r'File "\1"', body.decode("utf-8", "replace")))


@pytest.fixture(scope="module")
def large_jpeg() -> bytes:
    return _large_jpeg()


@pytest.mark.parametrize("name, body, headers", REQUESTS, ids=[r[0] for r in REQUESTS])
def test_the_server_answers_as_the_sagemaker_container(server, serving_container, large_jpeg, name, body, headers):
    body = large_jpeg if body is None else body
    local = httpx.post(f"{server.url}/invocations", content=body, headers=headers, timeout=60)
    container = serving_container.invoke(body, {k.lower(): v for k, v in headers.items()})

    assert local.status_code == container.status, (local.text[:2000], container.body[:2000])
    assert local.headers.get("content-type") == container.content_type
    assert _comparable(local.content) == _comparable(container.body)


def test_client_mistakes_are_the_toolkits_4xx_not_500(server):
    statuses = {name: httpx.post(f"{server.url}/invocations", content=body, headers=headers).status_code
                for name, body, headers in REQUESTS if body is not None and name != "binary as csv"}

    assert {name: status for name, status in statuses.items() if status >= 500} == {}
    assert statuses["empty"] == statuses["not an image"] == statuses["truncated"] == 400
    assert statuses["bomb"] == 413 and statuses["gif type"] == statuses["csv text"] == 415
    assert statuses["csv accept"] == 406


def test_the_frame_is_what_torchserves_worker_decodes():
    """Our front end's frame, read by TorchServe's own decoder, is the batch its worker passes on."""
    from ts.protocol.otf_message_handler import retrieve_msg

    frame = encode_inference_request("req-9", {"content-type": "image/png; x=1", "accept": "application/json"},
                                     b"\x89PNG body", "image/png")
    command, batch = retrieve_msg(BytesWire(frame))

    assert command == b"I"
    assert batch == [{"requestId": b"req-9",
                      "headers": [{"name": b"content-type", "value": b"image/png; x=1"},
                                  {"name": b"accept", "value": b"application/json"}],
                      "parameters": [{"name": "body", "contentType": "image/png", "value": b"\x89PNG body"}]}]


def test_a_response_is_decoded_as_torchserves_front_end_decodes_it():
    from ts.context import Context, RequestProcessor
    from ts.protocol.otf_message_handler import create_predict_response

    context = Context("model", "/tmp", None, 1, None, "0")
    context.request_processor = [RequestProcessor({})]
    context.set_response_status(415, "Unsupported Media Type")
    reply = bytes(create_predict_response(["no such type\ntrace"], {0: "req-1"}, "Prediction success", 200, context))
    failed = bytes(create_predict_response(None, {0: "req-1"}, "Prediction failed", 503))

    (answer,) = decode_predict_response(BytesWire(reply).recv)
    assert (answer.status, answer.reason, answer.body, answer.content_type) == (
        415, "Unsupported Media Type", b"no such type\ntrace", None)
    with pytest.raises(WorkerError) as caught:
        decode_predict_response(BytesWire(failed).recv)
    assert (caught.value.status, caught.value.message) == (503, "Prediction failed")


def test_the_toolkit_calls_training_serve_at_request_time(make_server, images, monkeypatch):
    """No second implementation: the toolkit's transformer runs training.serve's handlers."""
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


def test_a_crashing_handler_is_the_toolkits_500(make_server, images, monkeypatch):
    def broken(data, model):
        raise RuntimeError("CUDA is not available on this toaster")

    monkeypatch.setattr(serve, "predict_fn", broken)
    srv = make_server()
    response = httpx.post(f"{srv.url}/invocations", content=images[0].png, headers={"Content-Type": "image/png"})

    assert response.status_code == 500
    assert first_line(response.content) == "CUDA is not available on this toaster"
    assert "RuntimeError: CUDA is not available on this toaster" in response.text
    assert httpx.get(f"{srv.url}/ping").status_code == 200  # one failed request does not make the server unhealthy


def test_a_worker_that_fails_the_batch_is_torchserves_own_error(make_server, images, monkeypatch):
    """An answer TorchServe cannot encode fails the whole batch; its front end answers with its error JSON."""
    monkeypatch.setattr(serve, "output_fn", lambda prediction, accept: object())
    srv = make_server()
    response = httpx.post(f"{srv.url}/invocations", content=images[0].png, headers={"Content-Type": "image/png"})

    assert response.status_code == 503
    assert response.json() == {"code": 503, "type": "InternalServerException",
                               "message": "Unsupported model output data type."}


def test_workers_serve_requests_in_parallel_up_to_their_number(tiny_model_path, images, monkeypatch):
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
    host = ModelHost(tiny_model_path, workers=3).load()
    statuses = []
    try:
        threads = [threading.Thread(target=lambda: statuses.append(
            host.invoke(images[0].png, {"content-type": "image/png"}).status)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        host.close()

    assert statuses == [200] * 8
    assert 2 <= peak <= 3


def test_loading_leaves_the_process_environment_as_it_was(tiny_model_path, monkeypatch):
    """The handler service prepends model_dir/code to PYTHONPATH; children of this process must not inherit it."""
    import os

    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    monkeypatch.delenv("SAGEMAKER_PROGRAM", raising=False)
    host = ModelHost(tiny_model_path).load()
    try:
        assert os.environ["PYTHONPATH"] == "/somewhere" and "SAGEMAKER_PROGRAM" not in os.environ
        assert host.model_version and host.class_names == ["bicycle", "motorcycle"]
    finally:
        host.close()


def test_workers_must_be_positive(tiny_model_path):
    with pytest.raises(ValueError, match="workers must be at least 1"):
        ModelHost(tiny_model_path, workers=0)
