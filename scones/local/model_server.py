"""The local model server: a trained `model.tar.gz` behind the SageMaker container contract AND the
SageMaker Runtime API, on a real ASGI server (Starlette app served by uvicorn).

    from scones.local.model_server import ModelServer

    with ModelServer("artifacts/model.tar.gz", port=0, capture_dir="capture") as server:
        os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = server.url
        boto3.client("sagemaker-runtime").invoke_endpoint(EndpointName=server.endpoint_name, ...)

or from a shell: `scones serve --model artifacts/model.tar.gz` (see scones/local/serve_cli.py).

Inference
    The artifact is extracted into a temporary directory (SageMaker: /opt/ml/model) and served with
    the very handlers the SageMaker PyTorch container calls: `training.serve.model_fn` once, then
    `input_fn` -> `predict_fn` -> `output_fn` per request. There is no second implementation. The
    CPU-bound part of a request runs in a worker thread (at most `max_concurrency` at a time, default
    one per CPU) so the event loop keeps accepting requests; the model is an eval-mode module used
    under `torch.inference_mode()`, which is safe to call from several threads, so there is no lock.
    `torch_threads` (default 1) sets torch's intra-op threads while the server runs: one thread per
    request and requests in parallel beats one request using every core for 32x32 images.

Routes
    GET  /ping                          200 once the model is loaded (503 before)   [container]
    POST /invocations                   Content-Type/Accept -> input_fn/output_fn   [container]
    POST /endpoints/{name}/invocations  InvokeEndpoint (rest-json), what boto3 calls [runtime API]
    GET  /faults, POST /faults          read / set fault injection: {"rate": 0.5, "kind": "mixed",
                                        "seed": 0} (all keys optional)
    GET  /stats                         invocation counters and latencies (JSON)

    The runtime API ignores the SigV4 signature (any credentials work). A success answers with the
    model's body and the headers `Content-Type`, `x-Amzn-Invoked-Production-Variant: AllTraffic` and
    `x-amzn-RequestId`; an error answers in AWS's rest-json error shape (header `x-amzn-ErrorType`,
    JSON body with the message and the modeled fields), so botocore raises what it raises in AWS:

    situation                               container /invocations     runtime API (botocore)
    --------------------------------------  -------------------------  -----------------------------------------
    handler refuses the request             the handler's status:      424 ModelError, OriginalStatusCode =
      (InferenceError: bad/empty image 400,   400/413/415/406, body      the handler's status, OriginalMessage =
      too large 413, content type 415,        {"code", "type",           the handler's message, Message =
      Accept 406)                             "message"}                 "Received client error (400) from primary..."
    handler crashes (any other exception)   500                        424 ModelError, OriginalStatusCode 500
    body over 6 MB (InvokeEndpoint limit)   413                        413 (code "413", like AWS's front end)
    model not loaded                        503                        503 ServiceUnavailable
    unknown endpoint name                   -                          400 ValidationError "Endpoint X of account
                                                                       123456789012 not found."
    injected fault "throttle"               -                          400 ThrottlingException (botocore treats it
                                                                       as throttling: retried, and the classify
                                                                       Lambda raises EndpointThrottledError)
    injected fault "model-error"            -                          424 ModelError, OriginalStatusCode 500
    injected fault "unavailable"            -                          503 ServiceUnavailable

Fault injection (runtime API only; the container contract never fails on purpose)
    `inject_errors` = the share of InvokeEndpoint calls (for the known endpoint) that fail, decided
    by a `random.Random(fault_seed)`; `fault_kind` "mixed" (default) alternates throttle and
    model-error faults, so exactly half of the injected faults are ThrottlingException and half
    ModelError 500; "throttle", "model-error" and "unavailable" inject only that kind. Change it
    at runtime with `POST /faults` or `ModelServer.set_faults()`.

Data capture
    With `capture_dir`, every successful invocation (either route; the local server stands in for
    the whole endpoint) is written by `scones.capture_writer.CaptureWriter` in SageMaker's layout
    `<capture_dir>/<endpoint>/AllTraffic/YYYY/MM/DD/HH/*.jsonl`, sampled at `sampling_percentage`,
    so `scones capture-report --capture <capture_dir>` and `lambdas.drift` read it like real capture.
"""
from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import random
import socket
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, AsyncIterator

import anyio
import anyio.to_thread
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = [
    "DEFAULT_ENDPOINT_NAME", "DEFAULT_VARIANT", "FAULT_KINDS", "LOCAL_ACCOUNT_ID", "MAX_PAYLOAD_BYTES",
    "FaultInjector", "InvocationStats", "ModelHost", "ModelServer", "create_app",
]

logger = logging.getLogger("scones.model_server")

#: The endpoint name when the caller gives none (the scones CLI and the local runtime pass the config's).
DEFAULT_ENDPOINT_NAME = "scones-vehicle-classifier"
DEFAULT_VARIANT = "AllTraffic"
#: The account named in ValidationError messages and ARNs (moto's default account, as scones.local.aws).
LOCAL_ACCOUNT_ID = "123456789012"
#: InvokeEndpoint's request payload limit.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
FAULT_KINDS = ("mixed", "throttle", "model-error", "unavailable")
JSON_TYPE = "application/json"
_CONTAINER_NAME = "primary"  # what SageMaker calls a single-container endpoint's container in ModelError messages


# ------------------------------------------------------------------------------------------- the model


class ModelHost:
    """The artifact loaded with the SageMaker serving handlers (`training.serve`).

    `model_path` is a `model.tar.gz` (extracted into a temporary directory kept until `close()`, the
    way SageMaker unpacks it into /opt/ml/model) or an already extracted artifact directory.
    """

    def __init__(self, model_path: str | os.PathLike[str]):
        self.model_path = Path(model_path)
        self.model_dir: Path | None = None
        self.model: Any = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    @property
    def loaded(self) -> bool:
        return self.model is not None

    @property
    def model_version(self) -> str | None:
        return getattr(self.model, "model_version", None)

    @property
    def class_names(self) -> list[str] | None:
        return getattr(self.model, "class_names", None)

    def load(self) -> "ModelHost":
        """Extract (if needed) and call `model_fn(model_dir)`; idempotent."""
        if self.loaded:
            return self
        from training import serve

        if not self.model_path.exists():
            raise FileNotFoundError(f"model artifact not found: {self.model_path}")
        if self.model_path.is_dir():
            model_dir = self.model_path
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="scones-serve-")
            try:
                with tarfile.open(self.model_path, "r:gz") as archive:
                    archive.extractall(self._tmp.name, filter="data")
            except (tarfile.TarError, OSError) as exc:
                self.close()
                raise ValueError(f"{self.model_path}: not a readable model.tar.gz ({exc})") from exc
            model_dir = Path(self._tmp.name)
        try:
            self.model = serve.model_fn(model_dir)
        except Exception:
            self.close()
            raise
        self.model_dir = model_dir
        return self

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> bytes:
        """input_fn -> predict_fn -> output_fn; raises training.serve.InferenceError for client mistakes."""
        from training import serve

        if not self.loaded:
            raise RuntimeError("model is not loaded")
        data = serve.input_fn(body, content_type)
        prediction = serve.predict_fn(data, self.model)
        return serve.output_fn(prediction, accept)

    def close(self) -> None:
        self.model = None
        self.model_dir = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


# ------------------------------------------------------------------------------ faults and statistics


class FaultInjector:
    """Decides, per runtime-API invocation, whether to fail it on purpose and how (thread-safe)."""

    def __init__(self, rate: float = 0.0, kind: str = "mixed", seed: int = 0):
        self._lock = threading.Lock()
        self.rate, self.kind, self.seed = 0.0, "mixed", 0
        self._random = random.Random(0)
        self._next_mixed = 0
        self.injected = 0
        self.configure(rate=rate, kind=kind, seed=seed)

    def configure(self, rate: float | None = None, kind: str | None = None, seed: int | None = None) -> dict:
        """Change any of rate (0..1), kind (FAULT_KINDS) and seed (re-seeds the RNG); returns the new state."""
        if rate is not None:
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= float(rate) <= 1.0:
                raise ValueError(f"fault rate must be a number between 0 and 1, got {rate!r}")
        if kind is not None and kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"fault seed must be an integer, got {seed!r}")
        with self._lock:
            if rate is not None:
                self.rate = float(rate)
            if kind is not None:
                self.kind = kind
            if seed is not None:
                self.seed = seed
                self._random = random.Random(seed)
                self._next_mixed = 0
            return self._snapshot()

    def draw(self) -> str | None:
        """None (serve normally) or the fault kind to answer this invocation with."""
        with self._lock:
            if self.rate <= 0.0 or self._random.random() >= self.rate:
                return None
            self.injected += 1
            if self.kind != "mixed":
                return self.kind
            kind = ("throttle", "model-error")[self._next_mixed % 2]
            self._next_mixed += 1
            return kind

    def _snapshot(self) -> dict:
        return {"rate": self.rate, "kind": self.kind, "seed": self.seed, "injected": self.injected}

    def snapshot(self) -> dict:
        with self._lock:
            return self._snapshot()


class InvocationStats:
    """Counters and latencies of /invocations and InvokeEndpoint calls (thread-safe).

    Latencies are kept for the last MAX_LATENCIES calls, so a long-running server stays small.
    """

    MAX_LATENCIES = 100_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._count = 0
            self._errors = 0
            self._faults = 0
            self._by_status: dict[str, int] = {}
            self._by_route: dict[str, int] = {}
            self._latencies_ms: collections.deque[float] = collections.deque(maxlen=self.MAX_LATENCIES)

    def record(self, route: str, status: int, latency_ms: float, fault: bool = False) -> None:
        with self._lock:
            self._count += 1
            self._errors += status >= 400
            self._faults += fault
            key = str(status)  # str keys: the same dict as GET /stats gives
            self._by_status[key] = self._by_status.get(key, 0) + 1
            self._by_route[route] = self._by_route.get(route, 0) + 1
            self._latencies_ms.append(latency_ms)

    def snapshot(self) -> dict:
        with self._lock:
            return {"count": self._count, "succeeded": self._count - self._errors, "errors": self._errors,
                    "faults": self._faults, "by_status": dict(sorted(self._by_status.items())),
                    "by_route": dict(self._by_route), "latencies_ms": list(self._latencies_ms)}


# ------------------------------------------------------------------------------------------- the app


class _Service:
    """Everything the routes need; one per app."""

    def __init__(self, host: ModelHost, endpoint_name: str, variant: str, capture: Any, faults: FaultInjector,
                 stats: InvocationStats, account_id: str, region: str, max_concurrency: int):
        self.host = host
        self.endpoint_name = endpoint_name
        self.variant = variant
        self.capture = capture
        self.faults = faults
        self.stats = stats
        self.account_id = account_id
        self.region = region
        self.max_concurrency = max_concurrency
        self.limiter: anyio.CapacityLimiter | None = None

    # ---------------------------------------------------------------- the work done in a worker thread

    def infer(self, body: bytes, content_type: str | None, accept: str | None) -> bytes:
        output = self.host.invoke(body, content_type, accept)
        if self.capture is not None:
            try:
                self.capture.write(body, content_type or "application/octet-stream", output, JSON_TYPE)
            except Exception:  # capture is best effort; the caller already has its answer
                logger.exception("data capture failed")
        return output

    async def run_inference(self, body: bytes, content_type: str | None, accept: str | None) -> bytes:
        if self.limiter is None:
            self.limiter = anyio.CapacityLimiter(self.max_concurrency)
        return await anyio.to_thread.run_sync(self.infer, body, content_type, accept, limiter=self.limiter)

    # ---------------------------------------------------------------- AWS error shapes

    def log_stream_arn(self) -> str:
        return (f"arn:aws:logs:{self.region}:{self.account_id}:log-group:/aws/sagemaker/Endpoints/"
                f"{self.endpoint_name}:log-stream:{self.variant}/local")

    def model_error(self, request_id: str, status: int, error_type: str, message: str) -> Response:
        container_body = json.dumps({"code": status, "type": error_type, "message": message})
        side = "client" if status < 500 else "server"
        text = (f'Received {side} error ({status}) from {_CONTAINER_NAME} with message "{container_body}". '
                f"See https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
                f"#logEventViewer:group=/aws/sagemaker/Endpoints/{self.endpoint_name} in account "
                f"{self.account_id} for more information.")
        return _aws_error("ModelError", 424, request_id, {
            "Message": text, "OriginalStatusCode": status, "OriginalMessage": message,
            "LogStreamArn": self.log_stream_arn()})


def _aws_error(code: str | None, status: int, request_id: str, body: dict) -> Response:
    headers = {"x-amzn-RequestId": request_id}
    if code:
        headers["x-amzn-ErrorType"] = code
    return JSONResponse(body, status_code=status, headers=headers)


def _container_error(status: int, error_type: str, message: str) -> Response:
    return JSONResponse({"code": status, "type": error_type, "message": message}, status_code=status)


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is longer than `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(host: ModelHost, *, endpoint_name: str = DEFAULT_ENDPOINT_NAME, variant: str = DEFAULT_VARIANT,
               capture: Any = None, faults: FaultInjector | None = None, stats: InvocationStats | None = None,
               account_id: str = LOCAL_ACCOUNT_ID, region: str = "us-east-1",
               max_concurrency: int | None = None) -> Starlette:
    """The Starlette app serving `host` (load it first; /ping answers 503 until it is loaded).

    `capture` is a CaptureWriter (or anything with its `write` signature) or None.
    """
    service = _Service(host, endpoint_name, variant, capture, faults or FaultInjector(), stats or InvocationStats(),
                       account_id, region, max_concurrency or os.cpu_count() or 1)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.limiter = anyio.CapacityLimiter(service.max_concurrency)
        yield

    async def ping(request: Request) -> Response:
        if not service.host.loaded:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "healthy", "model_version": service.host.model_version})

    async def invocations(request: Request) -> Response:
        started = time.perf_counter()
        response = await _container_invocation(request)
        service.stats.record("invocations", response.status_code, (time.perf_counter() - started) * 1000)
        return response

    async def _container_invocation(request: Request) -> Response:
        from training.serve import InferenceError

        body = await _read_body(request, MAX_PAYLOAD_BYTES)
        if body is None:
            return _container_error(413, "PayloadTooLarge", f"request body exceeds {MAX_PAYLOAD_BYTES} bytes")
        if not service.host.loaded:
            return _container_error(503, "ModelNotLoaded", "the model is not loaded yet")
        try:
            output = await service.run_inference(body, request.headers.get("content-type"),
                                                  request.headers.get("accept"))
        except InferenceError as exc:
            return _container_error(exc.status_code, type(exc).__name__, exc.message)
        except Exception as exc:
            logger.exception("inference failed")
            return _container_error(500, type(exc).__name__, str(exc) or type(exc).__name__)
        return Response(output, media_type=JSON_TYPE)

    async def invoke_endpoint(request: Request) -> Response:
        started = time.perf_counter()
        response, fault = await _runtime_invocation(request)
        service.stats.record("invoke_endpoint", response.status_code, (time.perf_counter() - started) * 1000,
                             fault=fault)
        return response

    async def _runtime_invocation(request: Request) -> tuple[Response, bool]:
        from training.serve import InferenceError

        request_id = str(uuid.uuid4())
        name = request.path_params["endpoint_name"]
        body = await _read_body(request, MAX_PAYLOAD_BYTES)
        if body is None:
            # AWS's front end answers an oversized payload with a bare 413 (botocore's error code "413").
            return _aws_error(None, 413, request_id, {
                "message": f"HTTP content length exceeded {MAX_PAYLOAD_BYTES} bytes."}), False
        if name != service.endpoint_name:
            return _aws_error("ValidationError", 400, request_id, {
                "message": f"Endpoint {name} of account {service.account_id} not found."}), False
        fault = service.faults.draw()
        if fault == "throttle":
            return _aws_error("ThrottlingException", 400, request_id, {
                "message": "Rate exceeded (fault injected by the local model server)"}), True
        if fault == "unavailable":
            return _aws_error("ServiceUnavailable", 503, request_id, {
                "message": "The service is unavailable. Try your call again. "
                           "(fault injected by the local model server)"}), True
        if fault == "model-error":
            return service.model_error(request_id, 500, "InjectedFault",
                                       "model container failed (fault injected by the local model server)"), True
        if not service.host.loaded:
            return _aws_error("ServiceUnavailable", 503, request_id, {
                "message": f"Endpoint {name} is not ready: the model is still loading."}), False
        try:
            output = await service.run_inference(body, request.headers.get("content-type"),
                                                  request.headers.get("accept"))
        except InferenceError as exc:
            return service.model_error(request_id, exc.status_code, type(exc).__name__, exc.message), False
        except Exception as exc:
            logger.exception("inference failed")
            return service.model_error(request_id, 500, type(exc).__name__, str(exc) or type(exc).__name__), False
        return Response(output, media_type=JSON_TYPE, headers={
            "x-Amzn-Invoked-Production-Variant": service.variant, "x-amzn-RequestId": request_id}), False

    async def faults_route(request: Request) -> Response:
        if request.method == "POST":
            try:
                document = json.loads(await request.body() or b"{}")
                if not isinstance(document, dict):
                    raise ValueError("send a JSON object such as {\"rate\": 0.5}")
                unknown = sorted(set(document) - {"rate", "kind", "seed"})
                if unknown:
                    raise ValueError(f"unknown key(s) {unknown}; use rate, kind, seed")
                state = service.faults.configure(document.get("rate"), document.get("kind"), document.get("seed"))
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                return JSONResponse({"message": str(exc)}, status_code=400)
            logger.info("fault injection set to %s", state)
            return JSONResponse(state)
        return JSONResponse(service.faults.snapshot())

    async def stats_route(request: Request) -> Response:
        return JSONResponse(service.stats.snapshot())

    app = Starlette(routes=[
        Route("/ping", ping, methods=["GET"]),
        Route("/invocations", invocations, methods=["POST"]),
        Route("/endpoints/{endpoint_name}/invocations", invoke_endpoint, methods=["POST"]),
        Route("/faults", faults_route, methods=["GET", "POST"]),
        Route("/stats", stats_route, methods=["GET"]),
    ], lifespan=lifespan)
    app.state.service = service
    return app


# ------------------------------------------------------------------------------------------ the server


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
        self.model_host = ModelHost(self.model_path)
        self.max_concurrency = max_concurrency or os.cpu_count() or 1
        self.torch_threads = torch_threads
        self.log_level = log_level
        self.access_log = access_log
        self.startup_timeout = startup_timeout
        self.app = create_app(self.model_host, endpoint_name=endpoint_name, variant=variant, capture=self.capture,
                              faults=self.faults, stats=self.stats, account_id=account_id, region=self.region,
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
