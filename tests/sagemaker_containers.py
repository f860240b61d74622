"""The SageMaker PyTorch containers' Python side, run for real in tests (no Docker, no AWS).

`container_env` gives a child process the environment of a container: the toolkits and torch of this
venv, but not the repository (tests/fixtures/container_site/sitecustomize.py drops the editable
install), so our code comes only from what SageMaker would receive.

`ServingContainer` is the serving container minus TorchServe's Java front end: TorchServe's real
backend worker process (`ts/model_service_worker.py`) on a unix socket, sent the load command the
front end sends for the SageMaker handler service, then one inference frame per request. It answers
what the container answers; the local model server is compared with it.
"""
from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import ts

from scones.local.model_server_host import (HANDLER_SERVICE, MODEL_NAME, WorkerResponse, decode_predict_response,
                                            encode_inference_request)

ROOT = Path(__file__).resolve().parents[1]
CONTAINER_SITE = ROOT / "tests" / "fixtures" / "container_site"
WORKER_SCRIPT = Path(ts.__file__).parent / "model_service_worker.py"
METRICS_CONFIG = Path(ts.__file__).parent / "configs" / "metrics.yaml"


def container_env(extra: dict[str, str] | None = None, pythonpath: tuple[str, ...] = ()) -> dict[str, str]:
    """os.environ without the repository, plus `extra`; PYTHONPATH = `pythonpath` then the site hook."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("PYTEST")}
    env.update(extra or {})
    env["PYTHONPATH"] = os.pathsep.join([*pythonpath, str(CONTAINER_SITE)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # the model directory stays as SageMaker unpacked it
    return env


def _field(value: str) -> bytes:
    data = value.encode("utf-8")
    return struct.pack("!i", len(data)) + data


class ServingContainer:
    """TorchServe's backend worker serving `model_dir` with the SageMaker handler service.

    `environment` is the model's container environment (the CfnModel's Environment). As the
    container does, model_dir/code is put on PYTHONPATH and TorchServe's workers get
    TS_DECODE_INPUT_REQUEST=false (decode_input_request=false in the container's config).
    """

    def __init__(self, model_dir: Path, environment: dict[str, str], workdir: Path, startup_timeout: float = 120):
        self.model_dir = Path(model_dir)
        self.log_path = Path(workdir) / "worker.log"
        socket_name = str(Path(workdir) / "sock.9000")
        env = container_env({**environment, "TS_DECODE_INPUT_REQUEST": "false"},
                            pythonpath=(str(self.model_dir / "code"),))
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(WORKER_SCRIPT), "--sock-type", "unix", "--sock-name", socket_name,
                 "--metrics-config", str(METRICS_CONFIG)],
                cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.socket = self._connect(socket_name, startup_timeout)
        self._load()

    def _connect(self, path: str, timeout: float) -> socket.socket:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the TorchServe worker exited ({self.process.returncode}): {self.log()}")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                return sock
            except OSError:
                sock.close()
                time.sleep(0.1)
        self.close()
        raise TimeoutError(f"the TorchServe worker did not listen within {timeout:.0f} s: {self.log()}")

    def _read(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = self.socket.recv(size - len(data))
            if not chunk:
                raise RuntimeError(f"the TorchServe worker closed the connection: {self.log()}")
            data += chunk
        return bytes(data)

    def _load(self) -> None:
        # The front end's load command (ts.protocol.otf_message_handler._retrieve_load_msg's frame).
        frame = (b"L" + _field(MODEL_NAME) + _field(str(self.model_dir)) + struct.pack("!i", 1)
                 + _field(HANDLER_SERVICE) + struct.pack("!i", -1) + _field("") + struct.pack("!?", True))
        self.socket.sendall(frame)
        code = struct.unpack("!i", self._read(4))[0]
        message = self._read(struct.unpack("!i", self._read(4))[0]).decode()
        self._read(4)  # end of list
        if code != 200:
            raise RuntimeError(f"the worker could not load the model ({code} {message}): {self.log()}")

    def invoke(self, body: bytes, headers: dict[str, str]) -> WorkerResponse:
        """One HTTP request (body, headers with lower-case names) through the worker."""
        content_type = (headers.get("content-type") or "").split(";")[0].strip() or None
        self.socket.sendall(encode_inference_request("req-1", headers, body, content_type))
        return decode_predict_response(self._read)[0]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def close(self) -> None:
        if getattr(self, "socket", None) is not None:
            self.socket.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> "ServingContainer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
