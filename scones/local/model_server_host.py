"""The model behind the local server: the artifact served by the SageMaker PyTorch inference toolkit.

In the SageMaker PyTorch serving container, TorchServe's Java front end takes each HTTP request,
frames it for a Python backend worker (`ts/model_service_worker.py`), and the worker calls the
toolkit's handler service (`sagemaker_pytorch_serving_container.handler_service.HandlerService`),
whose transformer calls our `model_fn` / `input_fn` / `predict_fn` / `output_fn`. Here the same
Python side runs, and only the front end's part is ours:

    load      `ts.model_loader.TsModelLoader().load(...)` with the container's handler service, as
              the worker does on the front end's load command: one `ts.service.Service` per worker
              (TorchServe starts several workers per model; each handles one request at a time).
    request   framed as the front end frames it (`encode_inference_request`), read back by
              TorchServe's own decoder (`ts.protocol.otf_message_handler.retrieve_msg`) and run by
              `Service.predict`, which calls the toolkit's handler service.
    response  TorchServe's predict response, decoded as the front end decodes it
              (`decode_predict_response`): status, content type, headers and body per request.

So status codes and bodies are the toolkit's own: a client mistake is whatever the toolkit makes of
it, and a 500 here is a 500 (and an Invocation5XXErrors count) in AWS. An error body is the
toolkit's "<message>\\n<traceback>".

User module. The container imports SAGEMAKER_PROGRAM (the artifact's code/inference.py, a shim that
re-exports training.serve from the training package bundled beside it). Locally the toolkit is
pointed at `training.serve` itself, the code that shim re-exports, so the server runs this
checkout's serving code, the same that `scones evaluate` runs. tests/training/test_serve_toolkit.py
serves an artifact's own code/ in a process laid out like the container.
"""
from __future__ import annotations

import contextlib
import os
import queue
import struct
import tarfile
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping

#: The handler service the SageMaker PyTorch serving container gives TorchServe.
HANDLER_SERVICE = "sagemaker_pytorch_serving_container.handler_service"
#: The module the toolkit's transformer imports for model_fn/input_fn/predict_fn/output_fn.
USER_MODULE = "training.serve"
#: TorchServe's model name in the container (sagemaker_pytorch_serving_container.torchserve).
MODEL_NAME = "model"
_END = -1
# The container's default-ts.properties says decode_input_request=false; TorchServe hands that to
# its workers as this variable, so a JSON body reaches the transformer as bytes, not parsed.
_WORKER_ENVIRONMENT = {"TS_DECODE_INPUT_REQUEST": "false"}
_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class WorkerResponse:
    """One request's answer as TorchServe's front end receives it from the worker."""
    status: int
    body: bytes
    content_type: str | None = None
    reason: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class WorkerError(RuntimeError):
    """The worker failed the whole batch (TorchServe's front end then answers `status` itself)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message


# ----------------------------------------------------------------------------------------- the codec


def _field(value: bytes | str | None) -> bytes:
    data = b"" if value is None else value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return struct.pack("!i", len(data)) + data


def encode_inference_request(request_id: str, headers: Mapping[str, str], body: bytes,
                             content_type: str | None) -> bytes:
    """The "I" frame TorchServe's front end sends a worker for one HTTP request.

    `headers` are the request's headers; `content_type` is its media type without parameters (what
    the front end puts on the "body" parameter). A batch of one, as the container runs (batch size 1).
    """
    frame = bytearray(b"I") + _field(request_id)
    for name, value in headers.items():
        frame += _field(name) + _field(value)
    frame += struct.pack("!i", _END)
    frame += _field("body") + _field(content_type) + _field(body)
    frame += struct.pack("!i", _END) + struct.pack("!i", _END)
    return bytes(frame)


class BytesWire:
    """A socket-like `recv(n)` over bytes: TorchServe's decoder reads its socket with recv."""

    def __init__(self, data: bytes):
        self._data = memoryview(data)
        self._offset = 0

    def recv(self, size: int) -> bytes:
        chunk = bytes(self._data[self._offset:self._offset + size])
        self._offset += len(chunk)
        return chunk


def decode_predict_response(read: Callable[[int], bytes]) -> list[WorkerResponse]:
    """A worker's predict response (`ts.protocol.otf_message_handler.create_predict_response`).

    `read(n)` returns exactly n bytes. Raises WorkerError when the worker failed the whole batch.
    """
    def integer() -> int:
        return struct.unpack("!i", read(4))[0]

    def text() -> str:
        return read(integer()).decode("utf-8")

    code, message = integer(), text()
    responses = []
    while (length := integer()) != _END:
        read(length)  # the request id: one request per batch here
        content_type, status, reason = text(), integer(), text()
        headers = {text(): text() for _ in range(integer())}
        responses.append(WorkerResponse(status, read(integer()), content_type or None, reason or None, headers))
    if code != 200:
        raise WorkerError(code, message)
    return responses


def _reader(data: bytes) -> Callable[[int], bytes]:
    wire = BytesWire(data)

    def read(size: int) -> bytes:
        chunk = wire.recv(size)
        if len(chunk) != size:
            raise ValueError("truncated TorchServe response")
        return chunk

    return read


# ------------------------------------------------------------------------------------------ the host


@contextlib.contextmanager
def _loading_environment(model_dir: Path) -> Iterator[None]:
    """The variables a worker sees while the handler service initialises, restored afterwards.

    The handler service prepends model_dir/code to PYTHONPATH; that must not leak into this
    process's later children (a `scones serve` started by a test would import the artifact's copy).
    """
    names = ("SAGEMAKER_PROGRAM", "PYTHONPATH")
    with _LOAD_LOCK:
        saved = {name: os.environ.get(name) for name in names}
        os.environ["SAGEMAKER_PROGRAM"] = USER_MODULE
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _metrics_cache():
    """A worker's metrics cache, from TorchServe's packaged metrics.yaml (as the front end configures it)."""
    import ts
    from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl

    cache = MetricsCacheYamlImpl(config_file_path=str(Path(ts.__file__).parent / "configs" / "metrics.yaml"))
    cache.initialize_cache()
    cache.model_name = MODEL_NAME
    return cache


class ModelHost:
    """The artifact served through the toolkit's handler service by `workers` TorchServe workers.

    `model_path` is a `model.tar.gz` (extracted into a temporary directory kept until `close()`, the
    way SageMaker unpacks it into /opt/ml/model) or an already extracted artifact directory.
    `invoke` is thread-safe: each call borrows a worker, as TorchServe hands each request to a free one.
    """

    def __init__(self, model_path: str | os.PathLike[str], workers: int = 1):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.model_path = Path(model_path)
        self.workers = workers
        self.model_dir: Path | None = None
        self.metadata: dict | None = None
        self._idle: queue.Queue = queue.Queue()
        self._tmp: tempfile.TemporaryDirectory | None = None

    @property
    def loaded(self) -> bool:
        return self.metadata is not None

    @property
    def model_version(self) -> str | None:
        return None if self.metadata is None else str(self.metadata["model_version"])

    @property
    def class_names(self) -> list[str] | None:
        return None if self.metadata is None else list(self.metadata["class_names"])

    def load(self) -> "ModelHost":
        """Extract (if needed) and start the workers (each calls model_fn); idempotent."""
        if self.loaded:
            return self
        if not self.model_path.exists():
            raise FileNotFoundError(f"model artifact not found: {self.model_path}")
        try:
            model_dir = self._extract()
            self._start_workers(model_dir)
            from training.artifact import load_metadata

            self.metadata = load_metadata(model_dir)
        except Exception:
            self.close()
            raise
        self.model_dir = model_dir
        return self

    def _extract(self) -> Path:
        if self.model_path.is_dir():
            return self.model_path
        self._tmp = tempfile.TemporaryDirectory(prefix="scones-serve-")
        try:
            with tarfile.open(self.model_path, "r:gz") as archive:
                archive.extractall(self._tmp.name, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise ValueError(f"{self.model_path}: not a readable model.tar.gz ({exc})") from exc
        return Path(self._tmp.name)

    def _start_workers(self, model_dir: Path) -> None:
        from ts.model_loader import TsModelLoader

        os.environ.update(_WORKER_ENVIRONMENT)
        for _ in range(self.workers):
            with _loading_environment(model_dir):
                service = TsModelLoader().load(MODEL_NAME, str(model_dir), HANDLER_SERVICE, None, 1,
                                               metrics_cache=_metrics_cache())
            service.set_cl_socket(None)  # only streamed responses write to the front end directly
            self._idle.put(service)

    def invoke(self, body: bytes, headers: Mapping[str, str]) -> WorkerResponse:
        """One request (its body and HTTP headers) through a worker; the toolkit's answer."""
        from ts.protocol.otf_message_handler import retrieve_msg

        if not self.loaded:
            raise RuntimeError("model is not loaded")
        content_type = (headers.get("content-type") or "").split(";")[0].strip() or None
        frame = encode_inference_request(str(uuid.uuid4()), headers, body, content_type)
        _, batch = retrieve_msg(BytesWire(frame))
        service = self._idle.get()
        try:
            response = service.predict(batch)
        finally:
            self._idle.put(service)
        return decode_predict_response(_reader(bytes(response)))[0]

    def close(self) -> None:
        self.metadata = None
        self.model_dir = None
        self._idle = queue.Queue()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
