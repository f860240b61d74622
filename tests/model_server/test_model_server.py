"""ModelServer, the hosting: start/stop, ports, the extracted model's lifetime, torch threads, artifacts."""
from __future__ import annotations

import json
import socket
import tarfile

import httpx
import pytest

from scones.local.model_server import ModelServer


def test_start_stop_context_manager_env_and_stats(tiny_model_path, images):
    srv = ModelServer(tiny_model_path, port=0)
    with pytest.raises(RuntimeError):
        srv.env  # not started
    with srv:
        url = srv.url
        assert url.startswith("http://127.0.0.1:") and srv.port > 0
        assert srv.env == {"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": url, "ENDPOINT_NAME": srv.endpoint_name}
        with pytest.raises(RuntimeError):
            srv.start()  # already running
        for body in (images[0].png, b"broken"):
            httpx.post(f"{url}/invocations", content=body, headers={"Content-Type": "image/png"})
        stats = srv.invocation_stats()
        assert srv.model_host.model_dir is not None and (srv.model_host.model_dir / "metadata.json").is_file()
        extracted = srv.model_host.model_dir
        srv.reset_stats()
        assert srv.invocation_stats()["count"] == 0

    assert stats["count"] == 2 and stats["by_status"] == {"200": 1, "400": 1}
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


def test_one_toolkit_worker_per_request_in_flight(tiny_model_path):
    assert ModelServer(tiny_model_path, max_concurrency=3).model_host.workers == 3


def test_torch_threads_are_set_while_serving_and_restored(tiny_model_path):
    import torch

    before = torch.get_num_threads()
    with ModelServer(tiny_model_path, port=0, torch_threads=1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_an_extracted_artifact_directory_serves_the_same_answers(tiny_model_path, tmp_path, images, predict_locally):
    with tarfile.open(tiny_model_path) as archive:
        archive.extractall(tmp_path, filter="data")
    with ModelServer(tmp_path, port=0) as srv:
        response = httpx.post(f"{srv.url}/invocations", content=images[1].png, headers={"Content-Type": "image/png"})
    assert response.json() == json.loads(predict_locally(images[1].png))
    assert (tmp_path / "metadata.json").is_file()  # a directory given by the caller is not deleted


def test_a_missing_or_broken_artifact_fails_start(tmp_path):
    with pytest.raises(FileNotFoundError):
        ModelServer(tmp_path / "nope.tar.gz").start()
    broken = tmp_path / "model.tar.gz"
    broken.write_bytes(b"not a tarball")
    with pytest.raises(ValueError, match="not a readable model.tar.gz"):
        ModelServer(broken).start()


def test_a_port_in_use_fails_start_and_frees_the_model(tiny_model_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        srv = ModelServer(tiny_model_path, port=taken.getsockname()[1])
        with pytest.raises(OSError):
            srv.start()
    assert not srv.model_host.loaded
