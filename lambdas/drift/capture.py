"""Parse SageMaker data-capture JSONL into records (standard library only).

The layout and the line format are `scones_contracts.capture`'s. Every line either becomes a
:class:`CaptureRecord` or a :class:`BadRecord` (file, line number, reason). Nothing here raises on
bad data: a capture stream is evidence, and one corrupt line must not hide the other thousand.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Iterator, Sequence

from scones_contracts.capture import CAPTURE_SUFFIX, CaptureFormatError, decode_payload, parse_inference_time
from scones_contracts.classes import CLASS_NAMES

#: |sum(probabilities) - 1| must be at most this for the output to count as a probability vector.
DEFAULT_SUM_TOLERANCE = 0.01
N_CLASSES = len(CLASS_NAMES)


@dataclass(frozen=True)
class CaptureRecord:
    """One usable inference: the model's probabilities and when it happened."""

    probabilities: tuple[float, ...]
    inference_time: datetime  # timezone-aware, UTC
    event_id: str | None = None
    source: str | None = None
    line: int | None = None
    input_content_type: str | None = None
    input_bytes: int | None = None  # size of the decoded request body, None when input not captured

    @property
    def predicted_index(self) -> int:
        probs = self.probabilities
        return max(range(len(probs)), key=probs.__getitem__)

    @property
    def top_confidence(self) -> float:
        return max(self.probabilities)

    def predicted(self, class_names: Sequence[str] = CLASS_NAMES) -> str:
        return class_names[self.predicted_index]


@dataclass(frozen=True)
class BadRecord:
    """A line that could not be used, with where it was and why."""

    source: str | None
    line: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.source, "line": self.line, "reason": self.reason}


@dataclass
class ParseResult:
    records: list[CaptureRecord] = field(default_factory=list)
    bad: list[BadRecord] = field(default_factory=list)
    files: int = 0

    def extend(self, other: "ParseResult") -> None:
        self.records.extend(other.records)
        self.bad.extend(other.bad)
        self.files += other.files


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CaptureFormatError(f"probability {value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise CaptureFormatError(f"probability {value!r} is not finite")
    return number


def parse_probabilities(body: bytes, content_type: str | None, n_classes: int,
                        sum_tolerance: float = DEFAULT_SUM_TOLERANCE) -> tuple[float, ...]:
    """Decoded output body -> probability vector of length ``n_classes``.

    Accepts a JSON list (``[p0, p1]``), a batch of one (``[[p0, p1]]``), a JSON object holding the
    list under ``probabilities``/``predictions``/``scores``, or CSV text ``p0,p1``.
    """
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CaptureFormatError("output is not UTF-8 text") from None
    if not text:
        raise CaptureFormatError("output is empty")
    value: Any
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        if "csv" in (content_type or "").lower() or "," in text:
            try:
                value = [float(part) for part in text.replace("\n", ",").split(",") if part.strip()]
            except ValueError:
                raise CaptureFormatError(f"output is neither JSON nor CSV numbers: {text[:60]!r}") from None
        else:
            raise CaptureFormatError(f"output is not JSON: {text[:60]!r}") from None
    if isinstance(value, dict):
        for key in ("probabilities", "predictions", "scores"):
            if key in value:
                value = value[key]
                break
        else:
            raise CaptureFormatError("output object has no probabilities/predictions/scores list")
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if not isinstance(value, list):
        raise CaptureFormatError(f"output is not a list of {n_classes} probabilities")
    if len(value) != n_classes:
        raise CaptureFormatError(f"output has {len(value)} values, expected {n_classes} probabilities")
    probs = tuple(_number(v) for v in value)
    for p in probs:
        if p < -1e-6 or p > 1 + 1e-6:
            raise CaptureFormatError(f"probability {p!r} outside [0, 1]")
    total = sum(probs)
    if abs(total - 1.0) > sum_tolerance:
        raise CaptureFormatError(f"probabilities sum to {total:.4f}, not 1 (tolerance {sum_tolerance})")
    return probs


# --------------------------------------------------------------------------- records


def parse_record(obj: Any, n_classes: int = N_CLASSES, *, source: str | None = None,
                 line: int | None = None, sum_tolerance: float = DEFAULT_SUM_TOLERANCE) -> CaptureRecord:
    """One decoded capture object -> :class:`CaptureRecord`; raises :class:`CaptureFormatError`."""
    if not isinstance(obj, dict):
        raise CaptureFormatError("line is not a JSON object")
    capture = obj.get("captureData")
    if not isinstance(capture, dict):
        raise CaptureFormatError("captureData missing")
    output = capture.get("endpointOutput")
    if output is None:
        raise CaptureFormatError("captureData.endpointOutput missing")
    out_body = decode_payload(output, "endpointOutput")
    out_type = output.get("observedContentType") if isinstance(output, dict) else None
    probs = parse_probabilities(out_body, out_type, n_classes, sum_tolerance)

    # Input capture is optional (CaptureOptions may be Output only); when present it must decode.
    in_type = in_size = None
    endpoint_input = capture.get("endpointInput")
    if endpoint_input is not None:
        in_size = len(decode_payload(endpoint_input, "endpointInput"))
        in_type = endpoint_input.get("observedContentType")

    meta = obj.get("eventMetadata")
    if not isinstance(meta, dict):
        raise CaptureFormatError("eventMetadata missing")
    when = parse_inference_time(meta.get("inferenceTime"))
    event_id = meta.get("eventId")
    return CaptureRecord(
        probabilities=probs,
        inference_time=when,
        event_id=str(event_id) if event_id is not None else None,
        source=source,
        line=line,
        input_content_type=in_type,
        input_bytes=in_size,
    )


def parse_line(text: str | bytes, n_classes: int = N_CLASSES, *, source: str | None = None,
               line: int | None = None, sum_tolerance: float = DEFAULT_SUM_TOLERANCE) -> CaptureRecord:
    """One JSONL line -> :class:`CaptureRecord`; raises :class:`CaptureFormatError`."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise CaptureFormatError("line is not UTF-8") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise CaptureFormatError(f"malformed JSON ({err.msg} at column {err.colno})") from None
    return parse_record(obj, n_classes, source=source, line=line, sum_tolerance=sum_tolerance)


def parse_lines(lines: Iterable[str | bytes], source: str | None = None,
                n_classes: int = N_CLASSES,
                sum_tolerance: float = DEFAULT_SUM_TOLERANCE) -> ParseResult:
    """Parse an iterable of JSONL lines (1-based line numbers). Blank lines are skipped silently."""
    result = ParseResult(files=1 if source is not None else 0)
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip() if isinstance(raw, (str, bytes)) else raw
        if not stripped:
            continue
        try:
            result.records.append(parse_line(stripped, n_classes, source=source, line=number,
                                             sum_tolerance=sum_tolerance))
        except CaptureFormatError as err:
            result.bad.append(BadRecord(source, number, str(err)))
    return result


def iter_capture_files(root: str | os.PathLike[str], suffixes: Sequence[str] = (CAPTURE_SUFFIX,)) -> Iterator[str]:
    """Capture files under ``root`` (recursive, sorted for reproducible output); a file yields itself."""
    root = os.fspath(root)
    if os.path.isfile(root):
        yield root
        return
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        for name in sorted(files):
            if name.endswith(tuple(suffixes)):
                yield os.path.join(directory, name)


def parse_file(path: str | os.PathLike[str], n_classes: int = N_CLASSES,
               sum_tolerance: float = DEFAULT_SUM_TOLERANCE) -> ParseResult:
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            return parse_lines(handle, source=path, n_classes=n_classes, sum_tolerance=sum_tolerance)
    except OSError as err:
        return ParseResult(bad=[BadRecord(path, None, f"cannot read file: {err.strerror or err}")], files=1)


def parse_paths(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
                n_classes: int = N_CLASSES,
                sum_tolerance: float = DEFAULT_SUM_TOLERANCE) -> ParseResult:
    """Parse files and/or folder trees (recursively)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    result = ParseResult()
    for path in paths:
        for file_path in iter_capture_files(path):
            result.extend(parse_file(file_path, n_classes, sum_tolerance))
    return result
