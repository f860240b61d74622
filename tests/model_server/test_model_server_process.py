"""ModelServerProcess: `scones serve` as a child process, driven as the local runtime drives it."""
from __future__ import annotations

import httpx
import pytest

from scones.local.model_server_process import ModelServerProcess
from tests.model_server.server_support import ENDPOINT


def test_the_child_serves_takes_fault_settings_and_stops(tiny_model_path, runtime_client, images, tmp_path):
    child = ModelServerProcess(tiny_model_path, endpoint_name=ENDPOINT, capture_dir=tmp_path / "capture",
                               log_file=tmp_path / "server.log")
    url = child.start()
    try:
        client = runtime_client(url)
        assert client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png",
                                      Body=images[0].png)["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert child.set_faults(rate=1.0, kind="unavailable")["kind"] == "unavailable"
        with pytest.raises(client.exceptions.ServiceUnavailable):
            client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png", Body=images[0].png)
        stats = child.invocation_stats()
    finally:
        child.stop()

    assert stats["count"] == 2 and stats["faults"] == 1 and stats["by_status"] == {"200": 1, "503": 1}
    assert len(list((tmp_path / "capture").rglob("*.jsonl"))) == 1
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/ping", timeout=2)
    child.stop()  # stopping twice is harmless


def test_a_child_that_cannot_start_says_where_its_log_is(tmp_path):
    broken = tmp_path / "model.tar.gz"
    broken.write_bytes(b"not a tarball")
    child = ModelServerProcess(broken, endpoint_name=ENDPOINT, log_file=tmp_path / "server.log", startup_timeout=120)

    with pytest.raises(RuntimeError, match="exited with code 1 before it was ready; see .*server.log"):
        child.start()
    assert "not a readable model.tar.gz" in (tmp_path / "server.log").read_text()
