"""The local model server: a trained `model.tar.gz` behind the SageMaker container contract AND the
SageMaker Runtime API, on a real ASGI server (the Starlette app served by uvicorn).

    from scones.local.model_server import ModelServer

    with ModelServer("artifacts/model.tar.gz", port=0, capture_dir="capture") as server:
        os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = server.url
        boto3.client("sagemaker-runtime").invoke_endpoint(EndpointName=server.endpoint_name, ...)

or from a shell: `scones serve --model artifacts/model.tar.gz` (see scones/local/serve_cli.py).

The pieces:
    model_server.py          this module: hosting (uvicorn in a background thread or the foreground,
                             socket binding, torch threads, start/stop)
    model_server_host.py     the model: the SageMaker PyTorch inference toolkit's handler service,
                             loaded and called the way TorchServe's backend worker does
    model_server_app.py      the HTTP front end: routes, data capture, statistics
    model_server_errors.py   AWS's and TorchServe's error shapes
    model_server_faults.py   fault injection on the runtime API
    model_server_process.py  the server in a child process (what the local runtime starts)

`torch_threads` (default 1) sets torch's intra-op threads while the server runs: one thread per
request and requests in parallel beats one request using every core for 32x32 images.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import uvicorn

from scones_contracts.endpoint import VARIANT_NAME
from stacks.config_groups import EndpointSettings

from .model_server_app import InvocationStats, create_app
from .model_server_errors import EndpointIdentity
from .model_server_faults import FaultInjector
from .model_server_host import ModelHost

__all__ = ["DEFAULT_ENDPOINT_NAME", "DEFAULT_VARIANT", "LOCAL_ACCOUNT_ID", "ModelServer"]

logger = logging.getLogger("scones.model_server")

#: The endpoint name when the caller gives none: the config's default (the scones CLI and the local runtime
#: pass the configured one, which `-c endpoint_name=...` may change).
DEFAULT_ENDPOINT_NAME = EndpointSettings().name
DEFAULT_VARIANT = VARIANT_NAME
#: The account named in ValidationError messages and ARNs (moto's default account, as scones.local.aws).
LOCAL_ACCOUNT_ID = "123456789012"


class ModelServer:
    """The app served by uvicorn, in a background thread (`start`/`stop`) or the foreground (`run`).

    `port=0` picks a free port (the socket is bound before uvicorn starts, so there is no race);
    `url` is `http://host:port` once bound. Only `start()`/`run()` load the model.
    """

    def __init__(self, model_path: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 0, *,
                 endpoint_name: str = DEFAULT_ENDPOINT_NAME, variant: str = DEFAULT_VARIANT,
                 capture_dir: str | os.PathLike[str] | None = None, sampling_percentage: float = 100,
                 capture_seed: int | None = None, inject_errors: float = 0.0, fault_kind: str = "mixed",
                 fault_seed: int = 0, max_concurrency: int | None = None, torch_threads: int | None = 1,
                 account_id: str = LOCAL_ACCOUNT_ID, region: str | None = None, log_level: str = "warning",
                 access_log: bool = False, startup_timeout: float = 60.0):
        from scones.capture_writer import CaptureWriter

        self.model_path = Path(model_path)
        self.host = host
        self.port = port
        self.endpoint_name = endpoint_name
        self.variant = variant
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.capture = (CaptureWriter(capture_dir, endpoint_name, variant, sampling_percentage, seed=capture_seed)
                        if capture_dir is not None else None)
        self.faults = FaultInjector(inject_errors, fault_kind, fault_seed)
        self.stats = InvocationStats()
        self.max_concurrency = max_concurrency or os.cpu_count() or 1
        # One TorchServe worker per request in flight, as the container runs a worker per core.
        self.model_host = ModelHost(self.model_path, workers=self.max_concurrency)
        self.torch_threads = torch_threads
        self.log_level = log_level
        self.access_log = access_log
        self.startup_timeout = startup_timeout
        self.app = create_app(self.model_host, endpoint=EndpointIdentity(endpoint_name, variant, account_id, self.region),
                              capture=self.capture, faults=self.faults, stats=self.stats,
                              max_concurrency=self.max_concurrency)
        self.url: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._previous_torch_threads: int | None = None

    # ---------------------------------------------------------------- facts

    @property
    def capture_dir(self) -> str | None:
        """`<capture_dir>/<endpoint>/<variant>`, where the capture files go (None without capture)."""
        return self.capture.capture_dir if self.capture is not None else None

    @property
    def model_version(self) -> str | None:
        return self.model_host.model_version

    @property
    def env(self) -> dict[str, str]:
        """The environment a boto3 client (or the classify Lambda) needs to call this server."""
        if self.url is None:
            raise RuntimeError("the server is not started")
        return {"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.url, "ENDPOINT_NAME": self.endpoint_name}

    def invocation_stats(self) -> dict:
        """{"count", "succeeded", "errors", "faults", "by_status", "by_route", "latencies_ms"}."""
        return self.stats.snapshot()

    def reset_stats(self) -> None:
        self.stats.reset()

    def set_faults(self, rate: float | None = None, kind: str | None = None, seed: int | None = None) -> dict:
        """Same as POST /faults."""
        return self.faults.configure(rate, kind, seed)

    # ---------------------------------------------------------------- lifecycle

    def _prepare(self) -> uvicorn.Server:
        if self._server is not None:
            raise RuntimeError("the server is already running")
        self.model_host.load()
        if self.torch_threads:
            import torch

            self._previous_torch_threads = torch.get_num_threads()
            torch.set_num_threads(self.torch_threads)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            self._restore_torch_threads()
            self.model_host.close()
            raise
        self._socket = sock
        bound_host, bound_port = sock.getsockname()[:2]
        self.port = bound_port
        self.url = f"http://[{bound_host}]:{bound_port}" if family == socket.AF_INET6 else f"http://{bound_host}:{bound_port}"
        config = uvicorn.Config(self.app, log_config=None, log_level=self.log_level, access_log=self.access_log,
                                lifespan="on", timeout_graceful_shutdown=5, server_header=False)
        self._server = uvicorn.Server(config)
        return self._server

    def start(self) -> str:
        """Load the model, serve in a background thread, wait until /ping is 200; returns the URL."""
        server = self._prepare()
        failure: list[BaseException] = []

        def target() -> None:
            try:
                server.run(sockets=[self._socket])
            except BaseException as exc:  # noqa: BLE001 - reported to start() below
                failure.append(exc)

        self._thread = threading.Thread(target=target, name=f"scones-model-server-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                self._cleanup()
                raise RuntimeError(f"model server failed to start: {failure[0] if failure else 'uvicorn exited'}")
            if server.started and self._ping():
                logger.info("model server for %s (%s) listening on %s", self.endpoint_name, self.model_version,
                            self.url)
                return self.url
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"model server did not answer /ping within {self.startup_timeout}s")

    def run(self, on_ready=None) -> None:
        """Serve in the current thread until SIGINT/SIGTERM (uvicorn's handlers when on the main thread).

        `on_ready(server)` is called from a helper thread once /ping answers 200.
        """
        server = self._prepare()

        def announce() -> None:
            while self._server is server and not server.should_exit:
                if server.started and self._ping():
                    if on_ready is not None:
                        on_ready(self)
                    return
                time.sleep(0.02)

        threading.Thread(target=announce, name="scones-model-server-ready", daemon=True).start()
        try:
            server.run(sockets=[self._socket])
        finally:
            self._cleanup()

    def _ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (in-flight requests get up to 5 s), free the port, delete the extracted model."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout)
        self._cleanup()

    def _restore_torch_threads(self) -> None:
        if self._previous_torch_threads is not None:
            import torch

            torch.set_num_threads(self._previous_torch_threads)
            self._previous_torch_threads = None

    def _cleanup(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._server = None
        self._thread = None
        self._restore_torch_threads()
        if self.capture is not None:
            self.capture.close()
        self.model_host.close()

    def __enter__(self) -> "ModelServer":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
