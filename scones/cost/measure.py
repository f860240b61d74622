"""Measure what one image costs to process, on the local runtime, and write it as a dated JSON file.

    python -m scones.cost.measure [--model model.tar.gz] [--per-class 50] [--out scones/cost/data/measurements.json]

Runs the local workflow (the synthesized state machine in moto, the real Lambda handlers, the real
model behind the local endpoint, as `scones run` does) one image at a time, so each figure is the
work of one image without contention, on the held-out sample images re-encoded as 2048x1536 JPEGs
(photo-sized uploads; serialize decodes and downsizes them as it would a phone photo) plus the
hostile files (quarantined). It records, per Lambda handler: wall time of the handler call
(the billed duration's local stand-in), AWS API calls it made, bytes and lines it logged and the
EMF metric series it emitted; per outcome: execution duration and execution-history bytes; the
model server's per-request latency; and the data-capture record sizes. `scones cost` reads it.
Images below the confidence threshold wait for a reviewer: after the run, a reviewer agreeing with
the model decides each one (`scones.local.reviewing`), so those executions end; they are measured
as outcome `review` (their wait for a person is not part of any bill).

What it is not: Lambda on arm64 in AWS. The handlers ran in-process on this machine's x86 cores,
against moto's S3 and the local model server; the machine's load is recorded alongside.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from .config_view import confidence_threshold
from .measurements import DEFAULT_MEASUREMENTS

PHOTO_SIZE = (2048, 1536)


class _CountingStdout(io.TextIOBase):
    """sys.stdout during the run: what each handler prints (its logs and EMF) is counted per function."""

    def __init__(self, recorder: "Recorder", sink) -> None:
        self.recorder, self.sink = recorder, sink

    def write(self, text: str) -> int:
        self.recorder.log_output(text)
        return self.sink.write(text)

    def flush(self) -> None:
        self.sink.flush()


class Recorder:
    """Per Lambda function: durations, AWS calls, log bytes/lines and EMF metric series."""

    def __init__(self) -> None:
        self.durations_ms: dict[str, list[float]] = defaultdict(list)
        self.calls: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.log_bytes: dict[str, int] = defaultdict(int)
        self.log_lines: dict[str, int] = defaultdict(int)
        self.metric_series: set[str] = set()
        self._partial: dict[str, str] = defaultdict(str)

    def on_invoke(self, function_name: str, seconds: float) -> None:
        self.durations_ms[function_name].append(seconds * 1000)

    def on_aws_call(self, model, **_: Any) -> None:
        from scones.local.lambda_hook import current_function

        function = current_function()
        if function:
            self.calls[function][f"{model.service_model.service_name}:{model.name}"] += 1

    def log_output(self, text: str) -> None:
        from scones.local.lambda_hook import current_function

        function = current_function()
        if not function:
            return
        self.log_bytes[function] += len(text.encode("utf-8"))
        buffered = self._partial[function] + text
        *lines, self._partial[function] = buffered.split("\n")
        self.log_lines[function] += len(lines)
        for line in lines:
            self._emf(line)

    def _emf(self, line: str) -> None:
        try:
            record = json.loads(line)
        except ValueError:
            return
        if not isinstance(record, dict) or "_aws" not in record:
            return
        for directive in record["_aws"].get("CloudWatchMetrics", []):
            for dimension_set in directive.get("Dimensions", [[]]):
                dims = ",".join(f"{name}={record.get(name)}" for name in dimension_set)
                for metric in directive.get("Metrics", []):
                    self.metric_series.add(f"{directive['Namespace']}/{metric['Name']}{{{dims}}}")


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]  # noqa: E731
    return {"count": len(ordered), "mean_ms": round(statistics.fmean(ordered), 2), "p50_ms": round(pick(0.5), 2),
            "p90_ms": round(pick(0.9), 2), "max_ms": round(ordered[-1], 2),
            "billed_mean_ms": round(statistics.fmean(math.ceil(v) for v in ordered), 2)}


def build_images(target: Path, per_class: int) -> int:
    """Held-out sample images as photo-sized JPEGs, plus the hostile files; returns the file count."""
    from PIL import Image

    from scones.local.run_cli import build_demo_images

    labels = build_demo_images(target, per_class=per_class)
    for name in labels:
        source = target / name
        photo = source.with_suffix(".jpg")
        Image.open(source).convert("RGB").resize(PHOTO_SIZE).save(photo, quality=90)
        if photo != source:
            source.unlink()
    return sum(1 for p in target.rglob("*") if p.is_file())


def _executions(workflow) -> list[dict[str, Any]]:
    """Every execution's outcome, duration and history size (the state machine logs it at level ALL)."""
    sfn = workflow.aws.sfn
    arn = workflow.aws.deployed.state_machine_arn
    rows = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
        for execution in page["executions"]:
            description = sfn.describe_execution(executionArn=execution["executionArn"])
            events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
            outcome = _outcome(description, events)
            rows.append({
                "outcome": outcome, "events": len(events),
                "states_entered": sum(1 for e in events if e["type"].endswith("StateEntered")),
                # a CloudWatch record per event: the event itself plus the execution ARN it carries
                "history_bytes": sum(len(json.dumps(e, default=str)) + len(execution["executionArn"]) for e in events),
                "duration_ms": (events[-1]["timestamp"] - events[0]["timestamp"]).total_seconds() * 1000,
            })
    return rows


def _outcome(description: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """The cost model's outcome: `review` for an execution that waited for a reviewer (whatever the
    reviewer decided), else the execution's own outcome; `failed` if it did not succeed."""
    if description["status"] != "SUCCEEDED":
        return "failed"
    if any(e.get("taskSubmittedEventDetails", {}).get("resource", "").endswith(".waitForTaskToken") for e in events):
        return "review"
    return json.loads(description["output"])["outcome"]


def _capture(capture_dir: Path | None) -> dict[str, float]:
    import base64

    sizes, inputs, outputs = [], [], []
    for path in sorted(capture_dir.rglob("*.jsonl")) if capture_dir and capture_dir.exists() else []:
        for line in path.read_text().splitlines():
            record = json.loads(line)["captureData"]
            sizes.append(len(line.encode()) + 1)
            inputs.append(len(base64.b64decode(record["endpointInput"]["data"])))
            outputs.append(len(record["endpointOutput"]["data"].encode()))
    if not sizes:
        return {"records": 0}
    return {"records": len(sizes), "record_bytes_mean": round(statistics.fmean(sizes), 1),
            "request_bytes_mean": round(statistics.fmean(inputs), 1),
            "response_bytes_mean": round(statistics.fmean(outputs), 1)}


def measure(model: Path, per_class: int, workdir: Path) -> dict[str, Any]:
    """Run the images through the local workflow one at a time; return the measurement document."""
    import boto3

    from scones.local.reviewing import agree_with_the_model
    from scones.local.runtime import LocalWorkflow, list_images

    images = workdir / "images"
    count = build_images(images, per_class)
    recorder = Recorder()
    load_before = os.getloadavg()
    previous = sys.stdout
    with (workdir / "lambda-logs.jsonl").open("w") as sink:
        sys.stdout = _CountingStdout(recorder, sink)
        try:
            with LocalWorkflow(model, workdir / "run", on_invoke=recorder.on_invoke) as workflow:
                # The handlers create their clients from the default session on first use; moto
                # resets it when the mock starts, so the call counter is hooked in here.
                boto3.setup_default_session()
                boto3.DEFAULT_SESSION.events.register("before-call", recorder.on_aws_call)
                started = time.perf_counter()
                outcomes = list(workflow.run(list_images(images), images, concurrency=1))
                wall = time.perf_counter() - started
                # Images below the threshold wait for a reviewer: one who agrees with the model lets them end.
                agree_with_the_model(workflow.aws)
                executions = _executions(workflow)
                latencies = workflow.server.invocation_stats()["latencies_ms"]
                names = {name: logical for logical, name in workflow.aws.deployed.functions.items()}
                handlers = {logical: resource["Properties"]["Handler"] for logical, (_, resource)
                            in workflow.aws.assembly.resources("AWS::Lambda::Function").items()}
                capture_dir = workflow.capture_dir
                threshold = confidence_threshold(workflow.config)
        finally:
            sys.stdout = previous
    load_after = os.getloadavg()
    by_outcome: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in executions:
        by_outcome[row["outcome"]].append(row)
    functions = {}
    for name, durations in recorder.durations_ms.items():
        invocations = len(durations)
        functions[handlers[names[name]]] = {
            **_stats(durations),
            "aws_calls_per_invocation": {k: round(v / invocations, 3) for k, v in sorted(recorder.calls[name].items())},
            "log_bytes_per_invocation": round(recorder.log_bytes[name] / invocations, 1),
            "log_lines_per_invocation": round(recorder.log_lines[name] / invocations, 2),
        }
    counts = {o: sum(1 for x in outcomes if x.outcome == o) for o in ("routed", "review", "quarantined", "failed")}
    return {
        "measured_on": time.strftime("%Y-%m-%d"),
        "what": ("local runtime, one image at a time: the synthesized state machine in moto's interpreter, the real "
                 "Lambda handlers in-process (x86, not Lambda arm64), the real model behind the local endpoint"),
        "command": f"python -m scones.cost.measure --per-class {per_class}",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_1m_before": round(load_before[0], 2), "load_average_1m_after": round(load_after[0], 2)},
        "images": {"files": count, "photo_size": list(PHOTO_SIZE), "outcomes": counts,
                   "wall_seconds": round(wall, 2), "confidence_threshold": threshold},
        "functions": functions,
        "executions": {outcome: {"count": len(rows),
                                 "duration_ms_mean": round(statistics.fmean(r["duration_ms"] for r in rows), 1),
                                 "history_events_mean": round(statistics.fmean(r["events"] for r in rows), 1),
                                 "states_entered": sorted({r["states_entered"] for r in rows}),
                                 "history_bytes_mean": round(statistics.fmean(r["history_bytes"] for r in rows), 1)}
                       for outcome, rows in sorted(by_outcome.items())},
        "model_latency": _stats(latencies) if latencies else {},
        "capture": _capture(capture_dir),
        "metric_series": sorted(recorder.metric_series),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scones.cost.measure", description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model.tar.gz (default: cached or freshly trained on the sample data)")
    parser.add_argument("--per-class", type=int, default=50, help="held-out images per class (default 50)")
    parser.add_argument("--out", default=str(DEFAULT_MEASUREMENTS), help="where to write the measurement JSON")
    args = parser.parse_args(argv)
    from scones.local.demo_model import ensure_model
    from stacks.config import load_config

    model = ensure_model(Path(args.model) if args.model else None, confidence_threshold(load_config()),
                         log=lambda m: print(m, file=sys.stderr))
    with tempfile.TemporaryDirectory(prefix="scones-cost-measure-") as tmp:
        document = measure(model, args.per_class, Path(tmp))
    Path(args.out).write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
