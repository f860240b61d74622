"""The local endpoint's HTTP front end: a Starlette app over a `ModelHost` (the toolkit's handler service).

Routes
    GET  /ping                          200 once the model is loaded (503 before)   [container]
    POST /invocations                   the toolkit's answer, status/body/type as is [container]
    POST /endpoints/{name}/invocations  InvokeEndpoint (rest-json), what boto3 calls [runtime API]
    GET  /faults, POST /faults          read / set fault injection: {"rate": 0.5, "kind": "mixed",
                                        "seed": 0} (all keys optional)
    GET  /stats                         invocation counters and latencies (JSON)

The container contract plays TorchServe's front end in the SageMaker PyTorch container: the request
(body, headers) goes to a worker and the worker's answer comes back unchanged, so a 4xx or 500 is
the toolkit's own (scones/local/model_server_host.py). The runtime API plays SageMaker in front of
that container: the container's 200 answer is the InvokeEndpoint response (its Content-Type,
`x-Amzn-Invoked-Production-Variant`, `x-amzn-RequestId`); any other answer is a ModelError carrying
the container's status and body. It ignores the SigV4 signature (any credentials work). Error
shapes: scones/local/model_server_errors.py; injected faults (runtime API only):
scones/local/model_server_faults.py.

Work: the CPU-bound part of a request runs in a worker thread, at most `max_concurrency` at a time
(one TorchServe worker each), so the event loop keeps accepting requests.

Data capture: with `capture`, every successful invocation (either route: the local server stands in
for the whole endpoint) is written by `scones.capture_writer.CaptureWriter` in SageMaker's layout.
"""
from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import threading
import time
import uuid
from typing import Any, AsyncIterator, Mapping

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import model_server_errors as errors
from .model_server_faults import FaultInjector
from .model_server_host import ModelHost, WorkerError, WorkerResponse

logger = logging.getLogger("scones.model_server")

#: InvokeEndpoint's request payload limit.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
_FAULT_NOTE = "fault injected by the local model server"


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


class _Endpoint:
    """Everything the routes share; one per app."""

    def __init__(self, host: ModelHost, identity: errors.EndpointIdentity, capture: Any, faults: FaultInjector,
                 stats: InvocationStats, max_concurrency: int):
        self.host = host
        self.identity = identity
        self.capture = capture
        self.faults = faults
        self.stats = stats
        self.max_concurrency = max_concurrency
        self.limiter: anyio.CapacityLimiter | None = None

    def _invoke(self, body: bytes, headers: Mapping[str, str]) -> WorkerResponse:
        response = self.host.invoke(body, headers)
        if self.capture is not None and response.status == 200:
            try:
                self.capture.write(body, headers.get("content-type") or "application/octet-stream", response.body,
                                   response.content_type or "application/octet-stream")
            except Exception:  # capture is best effort; the caller already has its answer
                logger.exception("data capture failed")
        return response

    async def invoke(self, body: bytes, headers: Mapping[str, str]) -> WorkerResponse:
        """The container's answer. Raises WorkerError when the worker failed the whole batch."""
        if self.limiter is None:
            self.limiter = anyio.CapacityLimiter(self.max_concurrency)
        return await anyio.to_thread.run_sync(self._invoke, body, headers, limiter=self.limiter)


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


def _container_response(answer: WorkerResponse) -> Response:
    headers = dict(answer.headers)
    if answer.content_type:
        headers["content-type"] = answer.content_type
    return Response(answer.body, status_code=answer.status, headers=headers)


class _Routes:
    """The route handlers of one app (methods, so each stays small and testable through HTTP)."""

    def __init__(self, endpoint: _Endpoint):
        self.endpoint = endpoint

    async def ping(self, request: Request) -> Response:
        host = self.endpoint.host
        if not host.loaded:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "healthy", "model_version": host.model_version})

    async def invocations(self, request: Request) -> Response:
        started = time.perf_counter()
        response = await self._container(request)
        self.endpoint.stats.record("invocations", response.status_code, (time.perf_counter() - started) * 1000)
        return response

    async def _container(self, request: Request) -> Response:
        body = await _read_body(request, MAX_PAYLOAD_BYTES)
        if body is None:
            return errors.frontend_error(413, "PayloadTooLarge", f"request body exceeds {MAX_PAYLOAD_BYTES} bytes")
        if not self.endpoint.host.loaded:
            return errors.frontend_error(503, "ServiceUnavailableException", "the model is not loaded yet")
        try:
            return _container_response(await self.endpoint.invoke(body, request.headers))
        except WorkerError as exc:
            return errors.frontend_error(exc.status, "InternalServerException", exc.message)

    async def invoke_endpoint(self, request: Request) -> Response:
        started = time.perf_counter()
        response, fault = await self._runtime(request)
        self.endpoint.stats.record("invoke_endpoint", response.status_code, (time.perf_counter() - started) * 1000,
                                   fault=fault)
        return response

    async def _runtime(self, request: Request) -> tuple[Response, bool]:
        endpoint, request_id = self.endpoint, str(uuid.uuid4())
        name = request.path_params["endpoint_name"]
        body = await _read_body(request, MAX_PAYLOAD_BYTES)
        if body is None:
            return errors.payload_too_large(request_id, MAX_PAYLOAD_BYTES), False
        if name != endpoint.identity.endpoint_name:
            return errors.endpoint_not_found(endpoint.identity, request_id, name), False
        fault = endpoint.faults.draw()
        if fault == "throttle":
            return errors.throttling(request_id, _FAULT_NOTE), True
        if fault == "unavailable":
            return errors.service_unavailable(request_id, f"The service is unavailable. Try your call again. "
                                                          f"({_FAULT_NOTE})"), True
        if fault == "model-error":
            return errors.model_error(endpoint.identity, request_id, 500, f"model container failed ({_FAULT_NOTE})"), True
        if not endpoint.host.loaded:
            return errors.service_unavailable(request_id, f"Endpoint {name} is not ready: the model is still loading."), False
        try:
            answer = await endpoint.invoke(body, request.headers)
        except WorkerError as exc:
            container_body = errors.frontend_error_body(exc.status, "InternalServerException", exc.message)
            return errors.model_error(endpoint.identity, request_id, exc.status, container_body), False
        if answer.status != 200:
            return errors.model_error(endpoint.identity, request_id, answer.status,
                                      answer.body.decode("utf-8", "replace")), False
        return Response(answer.body, media_type=answer.content_type, headers={
            "x-Amzn-Invoked-Production-Variant": endpoint.identity.variant, "x-amzn-RequestId": request_id}), False

    async def faults(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                document = json.loads(await request.body() or b"{}")
                if not isinstance(document, dict):
                    raise ValueError("send a JSON object such as {\"rate\": 0.5}")
                unknown = sorted(set(document) - {"rate", "kind", "seed"})
                if unknown:
                    raise ValueError(f"unknown key(s) {unknown}; use rate, kind, seed")
                state = self.endpoint.faults.configure(document.get("rate"), document.get("kind"), document.get("seed"))
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                return JSONResponse({"message": str(exc)}, status_code=400)
            logger.info("fault injection set to %s", state)
            return JSONResponse(state)
        return JSONResponse(self.endpoint.faults.snapshot())

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self.endpoint.stats.snapshot())


def create_app(host: ModelHost, *, endpoint: errors.EndpointIdentity, capture: Any = None,
               faults: FaultInjector | None = None, stats: InvocationStats | None = None,
               max_concurrency: int | None = None) -> Starlette:
    """The Starlette app serving `host` (load it first; /ping answers 503 until it is loaded).

    `capture` is a CaptureWriter (or anything with its `write` signature) or None.
    """
    shared = _Endpoint(host, endpoint, capture, faults or FaultInjector(), stats or InvocationStats(),
                       max_concurrency or os.cpu_count() or 1)
    routes = _Routes(shared)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        shared.limiter = anyio.CapacityLimiter(shared.max_concurrency)
        yield

    return Starlette(routes=[
        Route("/ping", routes.ping, methods=["GET"]),
        Route("/invocations", routes.invocations, methods=["POST"]),
        Route("/endpoints/{endpoint_name}/invocations", routes.invoke_endpoint, methods=["POST"]),
        Route("/faults", routes.faults, methods=["GET", "POST"]),
        Route("/stats", routes.stats, methods=["GET"]),
    ], lifespan=lifespan)
