"""The model server in a process of its own, as a SageMaker endpoint is separate from its callers.

The local workflow (moto's interpreter threads and the Lambda handlers) runs in one Python process;
with the model in that process too, every inference would wait for the same interpreter lock.
`ModelServerProcess` runs `scones serve` (the same `ModelServer`) as a child process on a free
loopback port and offers the calls the runtime needs: start, stop, faults and stats over HTTP.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ModelServerProcess:
    def __init__(self, model_path: Path, *, endpoint_name: str, capture_dir: Path | None = None,
                 inject_errors: float = 0.0, fault_seed: int = 0, log_file: Path | None = None,
                 startup_timeout: float = 120.0) -> None:
        self.model_path = Path(model_path)
        self.endpoint_name = endpoint_name
        self.capture_dir = capture_dir
        self.inject_errors = inject_errors
        self.fault_seed = fault_seed
        self.log_file = log_file
        self.startup_timeout = startup_timeout
        self.url: str | None = None
        self._process: subprocess.Popen | None = None

    def start(self) -> str:
        port = _free_port()
        command = [sys.executable, "-m", "scones.cli", "serve", "--model", str(self.model_path),
                   "--host", "127.0.0.1", "--port", str(port), "--endpoint-name", self.endpoint_name,
                   "--inject-errors", str(self.inject_errors), "--fault-seed", str(self.fault_seed),
                   "--log-level", "warning"]
        if self.capture_dir is not None:
            command += ["--capture-dir", str(self.capture_dir)]
        log = self.log_file.open("ab") if self.log_file else subprocess.DEVNULL
        self._process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"the model server exited with code {self._process.returncode} before it was "
                                   f"ready; see {self.log_file or 'its output'}")
            try:
                if httpx.get(f"{self.url}/ping", timeout=1.0).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the model server was not ready within {self.startup_timeout:.0f} s")
            time.sleep(0.1)

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs (the bench reads its CPU time)."""
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def set_faults(self, rate: float | None = None, kind: str | None = None, seed: int | None = None) -> dict:
        document = {k: v for k, v in {"rate": rate, "kind": kind, "seed": seed}.items() if v is not None}
        response = httpx.post(f"{self.url}/faults", json=document, timeout=10)
        response.raise_for_status()
        return response.json()

    def invocation_stats(self) -> dict:
        response = httpx.get(f"{self.url}/stats", timeout=10)
        response.raise_for_status()
        return response.json()
