"""Batch reclassification: the request, where the results go, and how one result per object reads.

The batch state machine (stacks/batch_workflow.py) runs every object under a prefix of the data
bucket through serialize, classify and check_confidence (a Distributed Map over S3
ListObjectsV2). Its writers and readers share these names:

Request (the execution input)::

    {"prefix": "<a prefix under one of the allowed source prefixes>",
     "publish_routing_events": false}        # true: one routing event per routed object

Where the results go: the Map's ResultWriter writes under `results_folder(results_prefix,
execution name)`, i.e. `<results_prefix><execution name>/<map run id>/manifest.json` plus
`SUCCEEDED_<n>.json`, `FAILED_<n>.json`, `PENDING_<n>.json` (JSON arrays of child-execution
records, as AWS Step Functions writes them); the summary function then writes
`<results_prefix><execution name>/summary.json` and returns the same summary.

One result per object (`ObjectResult`, also `scones batch`'s JSON line)::

    {"key", "outcome", "label", "confidence", "reason"}

    outcome: routed | review | quarantined | skipped (a folder marker, not an image)
             | failed (the object's child execution failed: error and cause in `reason`)
             | not_started (the map run failed before the object was processed)
"""
from __future__ import annotations

import codecs
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from .events import OUTCOME_FAILED, OUTCOME_QUARANTINED, OUTCOME_REVIEW, OUTCOME_ROUTED

BATCH_MACHINE_SUFFIX = "batch-reclassification"  # config.resource_name(...) of the batch state machine
REQUEST_PREFIX = "prefix"
REQUEST_PUBLISH = "publish_routing_events"
SUMMARY_NAME = "summary.json"
MANIFEST_NAME = "manifest.json"
MAX_EXECUTION_NAME = 80  # Step Functions' limit on an execution name

OUTCOME_SKIPPED = "skipped"
OUTCOME_NOT_STARTED = "not_started"
BATCH_OUTCOMES: tuple[str, ...] = (OUTCOME_ROUTED, OUTCOME_REVIEW, OUTCOME_QUARANTINED, OUTCOME_SKIPPED,
                                   OUTCOME_FAILED, OUTCOME_NOT_STARTED)
# ResultWriter file status -> what it means for an object that has no output of its own.
RESULT_STATUSES = ("SUCCEEDED", "FAILED", "PENDING")
LINE_FIELDS = ("key", "outcome", "label", "confidence", "reason")


class BatchRequestError(ValueError):
    """A batch request the state machine would refuse (named in the message)."""


def check_prefix(prefix: str, allowed: Iterable[str]) -> str:
    """`prefix` if it lies under one of the `allowed` source prefixes, else BatchRequestError naming them.

    The batch machine may read only those prefixes (least privilege): anything else would fail
    on AccessDenied half-way; this says so before anything starts."""
    allowed = tuple(allowed)
    if not isinstance(prefix, str) or not prefix.startswith(allowed):
        raise BatchRequestError(f"prefix {prefix!r} is not under an allowed source prefix "
                                f"({', '.join(repr(p) for p in allowed)}); the batch workflow reads only those")
    return prefix


def results_folder(results_prefix: str, execution_name: str) -> str:
    """Where one batch execution's results and summary live."""
    return f"{results_prefix}{execution_name}/"


def summary_key(results_prefix: str, execution_name: str) -> str:
    return results_folder(results_prefix, execution_name) + SUMMARY_NAME


@dataclass(frozen=True)
class ObjectResult:
    """What happened to one object of the batch."""

    key: str
    outcome: str
    label: str | None = None
    confidence: float | None = None
    reason: str | None = None
    routing_event_id: str | None = None

    def line(self) -> dict[str, Any]:
        """The `scones batch --json` line of this object."""
        return {name: getattr(self, name) for name in LINE_FIELDS}


def object_result(record: Mapping[str, Any], status: str) -> ObjectResult:
    """One ResultWriter record (a child execution; `status` is the file's: SUCCEEDED/FAILED/PENDING).

    SUCCEEDED records carry the item processor's output (a JSON string); FAILED records the
    error and cause; PENDING records only the input. The key comes from the output, else the input.
    """
    item = _json_or_empty(record.get("Input"))
    key = str(item.get("key") or item.get("Key") or "")
    if status == "SUCCEEDED":
        output = _json_or_empty(record.get("Output"))
        return ObjectResult(key=str(output.get("key") or key), outcome=str(output.get("outcome")),
                            label=output.get("label"), confidence=output.get("confidence"),
                            reason=output.get("reason"), routing_event_id=output.get("event_id"))
    if status == "PENDING":
        return ObjectResult(key=key, outcome=OUTCOME_NOT_STARTED,
                            reason="not processed: the map run failed or was stopped before this object started")
    error = record.get("Error") or record.get("Status") or "failed"
    return ObjectResult(key=key, outcome=OUTCOME_FAILED, reason=f"{error}: {cause_message(record.get('Cause'))}")


def cause_message(cause: Any) -> str:
    """A Lambda error's cause is JSON with errorMessage; other causes are plain text."""
    if not cause:
        return "no cause recorded"
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        return str(cause)
    return str(parsed.get("errorMessage", cause)) if isinstance(parsed, dict) else str(cause)


def _json_or_empty(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        parsed = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def result_files(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(status, key) of every result file a ResultWriter manifest lists, SUCCEEDED first."""
    files = manifest.get("ResultFiles") or {}
    return [(status, entry["Key"]) for status in RESULT_STATUSES for entry in files.get(status) or []]


def iter_json_array(chunks: Iterable[bytes]) -> Iterator[Any]:
    """The items of one JSON array of objects, read from byte chunks without holding the whole array.

    ResultWriter files can reach gigabytes; this holds one record (plus one chunk) at a time.
    Raises ValueError if the text is not a JSON array of objects (or arrays)."""
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    buffer, position, state = "", 0, "start"  # start -> item -> separator -> ... -> done
    for chunk in _with_end(chunks):
        buffer = buffer[position:] + (utf8.decode(chunk, final=chunk == b""))
        position = 0
        while True:
            position = _skip_space(buffer, position)
            if position >= len(buffer):
                break
            char = buffer[position]
            if state == "start":
                if char != "[":
                    raise ValueError(f"expected a JSON array, found {char!r}")
                position, state = position + 1, "first"
            elif state in ("first", "item"):
                if char == "]" and state == "first":
                    position, state = position + 1, "done"
                    continue
                if char not in "{[":
                    raise ValueError(f"expected a JSON object in the array, found {char!r}")
                try:
                    item, end = decoder.raw_decode(buffer, position)
                except json.JSONDecodeError:
                    if chunk == b"":
                        raise ValueError("the JSON array ends inside an item") from None
                    break  # the item continues in the next chunk
                yield item
                position, state = end, "separator"
            elif state == "separator":
                if char == ",":
                    position, state = position + 1, "item"
                elif char == "]":
                    position, state = position + 1, "done"
                else:
                    raise ValueError(f"expected ',' or ']' between array items, found {char!r}")
            else:
                raise ValueError(f"unexpected {char!r} after the end of the JSON array")
    if state != "done":
        raise ValueError("the JSON array is not closed")


def _with_end(chunks: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        if chunk:
            yield chunk
    yield b""


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


@dataclass
class BatchSummary:
    """Counts over the objects of one batch execution (the summary function's output, `summary.json`)."""

    bucket: str
    prefix: str
    results: str  # s3:// URI of the ResultWriter manifest(s) folder
    tolerated_failure_percentage: float
    counts: dict[str, int] = field(default_factory=lambda: {name: 0 for name in BATCH_OUTCOMES})
    routing_events_published: int = 0

    def add(self, result: ObjectResult) -> None:
        self.counts[result.outcome] = self.counts.get(result.outcome, 0) + 1
        if result.outcome == OUTCOME_ROUTED and result.routing_event_id:
            self.routing_events_published += 1

    @property
    def objects(self) -> int:
        return sum(self.counts.values())

    @property
    def failed_percentage(self) -> float:
        """As Step Functions judges the tolerated failure threshold: failed items / all items."""
        return round(100.0 * self.counts.get(OUTCOME_FAILED, 0) / self.objects, 2) if self.objects else 0.0

    def document(self, status: str, error: str | None = None, cause: str | None = None) -> dict[str, Any]:
        data = asdict(self)
        data.update({"summary": True, "status": status, "objects": self.objects,
                     "failed_percentage": self.failed_percentage})
        if error:
            data.update({"error": error, "cause": cause})
        return data
