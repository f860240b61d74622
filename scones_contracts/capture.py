"""SageMaker data capture: where the files are and what one line holds.

Layout (SageMaker's; the local model server writes the same)::

    <capture prefix><endpoint>/<variant>/YYYY/MM/DD/HH/<MM-SS-mmm>-<uuid>.jsonl

`YYYY/MM/DD/HH` is the UTC hour of the records in the file and `MM-SS-mmm` the minute, second and
millisecond of its first record. One JSON object per line::

    {"captureData": {"endpointInput":  {"observedContentType": "image/png", "mode": "INPUT",
                                        "data": "<base64>", "encoding": "BASE64"},
                     "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                                        "data": "[0.995, 0.0047]", "encoding": "JSON"}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceTime": "2024-10-16T09:30:13Z"},
     "eventVersion": "0"}

The writer is `capture_line`; a reader decodes a payload with `decode_payload` and the time with
`parse_inference_time`.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime, timezone
from typing import Any

CAPTURE_SUFFIX = ".jsonl"
EVENT_VERSION = "0"
_HOUR_FOLDER = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+$")
# Encodings whose `data` is the body as text (SageMaker writes JSON/CSV; NONE when unspecified).
TEXT_ENCODINGS = ("JSON", "CSV", "NONE", "TEXT", "UTF-8", "UTF8")


class CaptureFormatError(ValueError):
    """A capture line or payload does not follow the format; `str(err)` says why."""


def endpoint_capture_prefix(capture_prefix: str, endpoint_name: str) -> str:
    """`datacapture/` + endpoint -> `datacapture/<endpoint>/` (what SageMaker writes under)."""
    return f"{capture_prefix}{endpoint_name}/"


def hour_folder(when: datetime) -> str:
    """`YYYY/MM/DD/HH` of `when` in UTC."""
    return _utc(when).strftime("%Y/%m/%d/%H")


def file_name(first_record_at: datetime, file_id: str) -> str:
    """`<MM-SS-mmm>-<file_id>.jsonl` for a file whose first record is `first_record_at`."""
    when = _utc(first_record_at)
    return f"{when:%M-%S}-{when.microsecond // 1000:03d}-{file_id}{CAPTURE_SUFFIX}"


def hour_of_key(key: str) -> datetime | None:
    """Start of the capture hour encoded in a key (`.../YYYY/MM/DD/HH/<file>`), or None."""
    match = _HOUR_FOLDER.search(key)
    if not match:
        return None
    try:
        return datetime(*(int(part) for part in match.groups()), tzinfo=timezone.utc)
    except ValueError:
        return None


def format_inference_time(when: datetime) -> str:
    return _utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_inference_time(value: Any) -> datetime:
    """`"2024-10-16T09:30:13Z"` (fractions and offsets allowed; naive = UTC) -> aware UTC datetime."""
    if not isinstance(value, str) or not value.strip():
        raise CaptureFormatError("eventMetadata.inferenceTime missing or not a string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise CaptureFormatError(f"eventMetadata.inferenceTime not ISO-8601: {value!r}") from None
    return _utc(parsed)


def is_json_content_type(content_type: str | None) -> bool:
    """`application/json`, `application/jsonlines`, `text/json`, `application/x+json` ..."""
    if not content_type:
        return False
    subtype = content_type.split(";", 1)[0].strip().lower().split("/", 1)[-1]
    return subtype in ("json", "jsonlines", "x-json", "x-jsonlines") or subtype.endswith("+json")


def encode_payload(body: bytes, content_type: str, mode: str, *, as_text_if_json: bool) -> dict[str, str]:
    """One `endpointInput`/`endpointOutput` object: JSON text when allowed and possible, else base64."""
    if as_text_if_json and is_json_content_type(content_type):
        try:
            return {"observedContentType": content_type, "mode": mode, "data": body.decode("utf-8"),
                    "encoding": "JSON"}
        except UnicodeDecodeError:
            pass
    return {"observedContentType": content_type, "mode": mode,
            "data": base64.b64encode(body).decode("ascii"), "encoding": "BASE64"}


def decode_payload(payload: Any, what: str = "payload") -> bytes:
    """The raw bytes an `endpointInput`/`endpointOutput` object stands for (base64 decoded strictly)."""
    if not isinstance(payload, dict):
        raise CaptureFormatError(f"{what} is not an object")
    if payload.get("data") is None:
        raise CaptureFormatError(f"{what}.data missing")
    data = payload["data"]
    encoding = str(payload.get("encoding") or "NONE").upper()
    if encoding == "BASE64":
        if not isinstance(data, str):
            raise CaptureFormatError(f"{what}.data is not a base64 string")
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise CaptureFormatError(f"{what}.data is not valid base64") from None
    if encoding in TEXT_ENCODINGS:
        if isinstance(data, str):
            return data.encode("utf-8")
        # Some writers embed the JSON value itself rather than its text.
        return json.dumps(data).encode("utf-8")
    raise CaptureFormatError(f"{what}.encoding {payload.get('encoding')!r} not supported")


def capture_line(input_bytes: bytes, input_content_type: str, output_bytes: bytes, output_content_type: str,
                 inference_time: datetime, event_id: str) -> str:
    """One capture line (no trailing newline): input always base64, a JSON output kept as text."""
    record = {
        "captureData": {
            "endpointInput": encode_payload(bytes(input_bytes), input_content_type, "INPUT", as_text_if_json=False),
            "endpointOutput": encode_payload(bytes(output_bytes), output_content_type, "OUTPUT",
                                             as_text_if_json=True),
        },
        "eventMetadata": {"eventId": event_id, "inferenceTime": format_inference_time(inference_time)},
        "eventVersion": EVENT_VERSION,
    }
    return json.dumps(record, separators=(",", ":"))


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
