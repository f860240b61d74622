"""`scones batch --images DIR`: the batch workflow on one machine, one line per file.

The files are uploaded under the backlog prefix (`<backlog_prefix><execution name>/<path>`, where
nothing starts the upload workflow), then the SYNTHESIZED batch state machine runs over that
prefix in moto (`LocalWorkflow`: the real handlers, the local model server, the moto shims), and
`BatchClient` reads the results as it would in AWS. Every file gets exactly one line: its result,
or why it never reached the workflow (a name S3 cannot hold as a key, a file that cannot be read).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from scones_contracts.batch import OUTCOME_FAILED, BatchSummary, ObjectResult
from scones_contracts.quarantine import MAX_KEY_BYTES

from .client import BatchClient, BatchExecution, execution_name


@dataclass
class LocalBatch:
    """The outcome of one local batch run: a result per file, in file order, and the summary."""

    results: list[ObjectResult] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    status: str = ""


def object_key(prefix: str, root: Path, path: Path) -> tuple[str | None, str]:
    """(the S3 key of `path`, or None when S3 cannot hold it; the name to report)."""
    relative = path.relative_to(root).as_posix()
    shown = relative.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if shown != relative:
        return None, prefix + shown
    key = prefix + relative
    return (key if len(key.encode("utf-8")) <= MAX_KEY_BYTES else None), key


def run_local_batch(client: BatchClient, bucket: str, files: list[Path], root: Path, publish: bool,
                    progress: Callable[[str], None] | None = None) -> LocalBatch:
    """Upload `files`, run the batch over them, and return one result per file."""
    name = execution_name()
    prefix = f"{client.config.bucket.backlog_prefix}{name}/"
    keys: dict[str, Path] = {}
    results: dict[Path, ObjectResult] = {}
    for path in files:
        key, shown = object_key(prefix, root, path)
        if key is None:
            why = ("its name is not valid UTF-8, and S3 keys are UTF-8" if shown.count("\ufffd")
                   else f"its key would be longer than S3's {MAX_KEY_BYTES} bytes")
            results[path] = ObjectResult(key=shown, outcome=OUTCOME_FAILED, reason=f"not uploaded: {why}")
            continue
        try:
            client.s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        except Exception as exc:  # an unreadable file or a refused upload: say so, keep going
            results[path] = ObjectResult(key=key, outcome=OUTCOME_FAILED, reason=f"not uploaded: {exc}")
            continue
        keys[key] = path
    run = LocalBatch()
    if keys:
        execution = client.start(f"s3://{bucket}/{prefix}", publish_routing_events=publish, name=name)
        description = client.wait(execution, progress=progress, poll_seconds=0.1)
        run.status = description["status"]
        run.summary = client.summary(execution, description)
        for result in client.results(execution):
            if result.key in keys and keys[result.key] not in results:
                results[keys.pop(result.key)] = result
        for key, path in keys.items():  # listed by no result file: say so rather than drop it
            results[path] = ObjectResult(key=key, outcome=OUTCOME_FAILED,
                                         reason=f"no result: the batch ended {run.status} before this object")
    else:
        run.status = "NOT_STARTED"
        run.summary = _empty_summary(bucket, prefix)
    run.results = [results[path] for path in files]
    return run


def _empty_summary(bucket: str, prefix: str) -> dict[str, Any]:
    return BatchSummary(bucket=bucket, prefix=prefix, results="", tolerated_failure_percentage=0.0).document(
        "NOT_STARTED", "NothingToDo", "no file could be uploaded")


def timed(function: Callable[[], LocalBatch]) -> tuple[LocalBatch, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def summary_line(run: LocalBatch, wall_seconds: float) -> dict[str, Any]:
    """The closing line: the execution's summary plus what this machine measured, and the count of
    files (which includes files that never reached the workflow)."""
    counts: dict[str, int] = {}
    for result in run.results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    return {**run.summary, "summary": True, "status": run.status, "files": len(run.results), "file_counts": counts,
            "wall_seconds": round(wall_seconds, 2),
            "throughput_files_per_s": round(len(run.results) / wall_seconds, 2) if wall_seconds > 0 else None}
