"""Write data capture exactly like a SageMaker endpoint does, for the local model server.

Layout and naming follow SageMaker's::

    <root>/<endpoint>/<variant>/YYYY/MM/DD/HH/<MM-SS-mmm>-<uuid4>.jsonl

where ``YYYY/MM/DD/HH`` is the UTC hour of the records inside and ``MM-SS-mmm`` the minute, second
and millisecond of the first record written to the file. A file collects every record of its hour
(a new hour starts a new file; ``max_records_per_file`` can roll sooner). Each line is one compact
JSON object::

    {"captureData":{"endpointInput":{"observedContentType":"image/png","mode":"INPUT",
     "data":"<base64>","encoding":"BASE64"},"endpointOutput":{"observedContentType":
     "application/json","mode":"OUTPUT","data":"[0.99, 0.01]","encoding":"JSON"}},
     "eventMetadata":{"eventId":"<uuid>","inferenceTime":"2024-10-16T09:30:13Z"},"eventVersion":"0"}

The input is always base64 (``BASE64``); the output is kept as text with ``JSON`` encoding when its
content type is JSON and it is UTF-8, otherwise base64. ``lambdas.drift`` parses the result exactly
as it parses real captures.
"""
from __future__ import annotations

import base64
import json
import os
import random
import threading
import uuid
from datetime import datetime, timezone

__all__ = ["CaptureWriter", "is_json_content_type", "capture_line"]


def is_json_content_type(content_type: str | None) -> bool:
    """``application/json``, ``application/jsonlines``, ``text/json``, ``application/x+json`` ..."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    subtype = media.split("/", 1)[-1]
    return subtype in ("json", "jsonlines", "x-json", "x-jsonlines") or subtype.endswith("+json")


def _utc(when: datetime | None) -> datetime:
    if when is None:
        return datetime.now(timezone.utc)
    if when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def _payload(body: bytes, content_type: str, mode: str, allow_json: bool) -> dict[str, str]:
    if allow_json and is_json_content_type(content_type):
        try:
            return {"observedContentType": content_type, "mode": mode, "data": body.decode("utf-8"),
                    "encoding": "JSON"}
        except UnicodeDecodeError:
            pass
    return {"observedContentType": content_type, "mode": mode,
            "data": base64.b64encode(body).decode("ascii"), "encoding": "BASE64"}


def capture_line(input_bytes: bytes, input_content_type: str, output_bytes: bytes, output_content_type: str,
                 inference_time: datetime, event_id: str) -> str:
    """One SageMaker capture line (no trailing newline)."""
    record = {
        "captureData": {
            "endpointInput": _payload(bytes(input_bytes), input_content_type, "INPUT", allow_json=False),
            "endpointOutput": _payload(bytes(output_bytes), output_content_type, "OUTPUT", allow_json=True),
        },
        "eventMetadata": {"eventId": event_id,
                          "inferenceTime": _utc(inference_time).strftime("%Y-%m-%dT%H:%M:%SZ")},
        "eventVersion": "0",
    }
    return json.dumps(record, separators=(",", ":"))


class CaptureWriter:
    """Thread-safe writer of SageMaker-format capture files.

    ``sampling_percentage`` (0-100) captures that share of requests at random, like the endpoint's
    ``InitialSamplingPercentage``; ``seed`` makes the sampling reproducible.
    """

    KEEP_OPEN_HOURS = 48

    def __init__(self, root_dir: str | os.PathLike[str], endpoint_name: str, variant_name: str = "AllTraffic",
                 sampling_percentage: float = 100, *, max_records_per_file: int | None = None,
                 seed: int | None = None) -> None:
        if not endpoint_name or "/" in endpoint_name:
            raise ValueError(f"invalid endpoint name {endpoint_name!r}")
        if not variant_name or "/" in variant_name:
            raise ValueError(f"invalid variant name {variant_name!r}")
        if not 0 <= sampling_percentage <= 100:
            raise ValueError("sampling_percentage must be between 0 and 100")
        if max_records_per_file is not None and max_records_per_file < 1:
            raise ValueError("max_records_per_file must be at least 1")
        self.root_dir = os.fspath(root_dir)
        self.endpoint_name = endpoint_name
        self.variant_name = variant_name
        self.sampling_percentage = sampling_percentage
        self.max_records_per_file = max_records_per_file
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._files: dict[str, list] = {}  # hour folder -> [path, records written]

    @property
    def capture_dir(self) -> str:
        """``<root>/<endpoint>/<variant>``: the folder to point the analyzer at."""
        return os.path.join(self.root_dir, self.endpoint_name, self.variant_name)

    def write(self, input_bytes: bytes, input_content_type: str, output_bytes: bytes, output_content_type: str,
              inference_time: datetime | None = None, event_id: str | None = None) -> str | None:
        """Capture one request/response; returns the file written, or None when not sampled."""
        when = _utc(inference_time)
        with self._lock:
            if self.sampling_percentage < 100 and self._random.random() * 100 >= self.sampling_percentage:
                return None
            line = capture_line(input_bytes, input_content_type, output_bytes, output_content_type, when,
                                event_id or str(uuid.uuid4()))
            hour_dir = os.path.join(self.capture_dir, when.strftime("%Y/%m/%d/%H"))
            current = self._files.get(hour_dir)
            if current is None or (self.max_records_per_file and current[1] >= self.max_records_per_file):
                os.makedirs(hour_dir, exist_ok=True)
                name = f"{when:%M-%S}-{when.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
                current = self._files[hour_dir] = [os.path.join(hour_dir, name), 0]
                if len(self._files) > self.KEEP_OPEN_HOURS:  # a long-running server: forget old hours
                    for old in sorted(self._files)[:-self.KEEP_OPEN_HOURS]:
                        del self._files[old]
            with open(current[0], "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
            current[1] += 1
            return current[0]

    def close(self) -> None:
        """Forget open files (each write appends and closes, so nothing needs flushing)."""
        with self._lock:
            self._files.clear()

    def __enter__(self) -> "CaptureWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
