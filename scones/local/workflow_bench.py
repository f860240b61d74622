"""`scones bench-workflow` (run by `make bench`): the local workflow's throughput, latency and where
the time goes, at each concurrency, on one running local workflow.

Each concurrency routes `rounds` copies of the image set (distinct keys, one continuous run, so the
pipeline stays full). Before the measured runs, one pass at the first concurrency warms the runtime
up, and is reported apart as `cold`: the first invocation of each execution environment imports
its handler (Lambda's Init phase), and the interpreter parses the definition, compiles JSONPaths and
creates its clients once. Reported per run: images/s, latency percentiles (upload to outcome), the
mean milliseconds per step (`scones.local.step_times`), each function's handler time alone (the
rest of a Lambda step is the invocation: interpreter, moto, botocore), CPU milliseconds per image
of the runtime's process and of the model server's, the execution environments each function
needed, and the machine's load average (the figures are only comparable at similar load).

Output: a readable table, then one JSON line `{"workflow_bench": {...}}` (the last line).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from .run_summary import summarize
from .runtime import LocalWorkflow, list_images
from .step_times import STEP_LABELS, STEP_ORDER


def _server_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return None


def _own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def replicate(images: Path, target: Path, rounds: int) -> Path:
    """`rounds` copies of the image set under target/round-N/ (each copy a new key)."""
    for number in range(1, rounds + 1):
        shutil.copytree(images, target / f"round-{number}")
    return target


def _measure(workflow: LocalWorkflow, images: Path, concurrency: int,
             handler_seconds: dict[str, list[float]]) -> dict[str, Any]:
    files = list_images(images)
    handler_seconds.clear()
    load_before = os.getloadavg()
    cpu_before, server_before = _own_cpu_s(), _server_cpu_s(workflow.server.pid)
    started = time.perf_counter()
    outcomes = list(workflow.run(files, images, concurrency=concurrency))
    wall = time.perf_counter() - started
    cpu_after, server_after = _own_cpu_s(), _server_cpu_s(workflow.server.pid)
    summary = summarize(outcomes, wall)
    per_image = 1000 / max(1, len(outcomes))
    return {
        "concurrency": concurrency,
        **{k: summary[k] for k in ("images", "wall_seconds", "throughput_images_per_s", "latency_ms", "counts")},
        "step_ms_mean": summary["step_ms_mean"],
        "handler_ms_mean": {name: round(sum(v) * 1000 / len(v), 2) for name, v in sorted(handler_seconds.items()) if v},
        "cpu_ms_per_image": {
            "runtime_process": round((cpu_after - cpu_before) * per_image, 1),
            "model_server": round((server_after - server_before) * per_image, 1)
            if server_before is not None and server_after is not None else None,
        },
        "execution_environments": dict(workflow.environments.created) if workflow.environments else {},
        "load_average_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }


def bench_workflow(model: Path, images: Path, workdir: Path, concurrencies: list[int], rounds: int,
                   context: dict[str, Any], log: Callable[[str], None] = print) -> dict[str, Any]:
    """Warm up once, then measure each concurrency; returns the `workflow_bench` document."""
    from .run_cli import LambdaLogsToFile

    handler_seconds: dict[str, list[float]] = {}

    def on_invoke(function_name: str, seconds: float) -> None:
        handler_seconds.setdefault(function_name, []).append(seconds)

    measured = replicate(images, workdir / "measured", rounds)
    runs = []
    with LambdaLogsToFile(workdir / "lambda-logs.jsonl"), \
            LocalWorkflow(model, workdir / "runtime", context=context, on_invoke=on_invoke) as workflow:
        log(f"warming up: {len(list_images(images))} images at concurrency {concurrencies[0]}")
        cold = _measure(workflow, images, concurrencies[0], handler_seconds)
        for concurrency in concurrencies:
            log(f"measuring: {rounds} x {len(list_images(images))} images at concurrency {concurrency}")
            runs.append(_measure(workflow, measured, concurrency, handler_seconds))
    return {"cpus": os.cpu_count(), "rounds": rounds, "cold": cold, "runs": runs}


def table(result: dict[str, Any]) -> str:
    """The readable form: one line per run, then the mean milliseconds per step per run."""
    rows = [result["cold"] | {"label": "cold"}] + [r | {"label": "warm"} for r in result["runs"]]
    lines = [f"{'run':>5} {'conc':>4} {'images':>6} {'img/s':>7} {'p50 ms':>8} {'p99 ms':>8} "
             f"{'cpu ms/img':>10} {'server cpu':>10} {'load':>11}  environments"]
    for r in rows:
        cpu = r["cpu_ms_per_image"]
        load = "-".join(f"{v:.1f}" for v in r["load_average_1m"])
        envs = ", ".join(f"{name[:24]} {n}" for name, n in sorted(r["execution_environments"].items()))
        lines.append(f"{r['label']:>5} {r['concurrency']:>4} {r['images']:>6} {r['throughput_images_per_s']:>7} "
                     f"{r['latency_ms']['p50']:>8} {r['latency_ms']['p99']:>8} {cpu['runtime_process']:>10} "
                     f"{cpu['model_server'] if cpu['model_server'] is not None else '-':>10} {load:>11}  {envs}")
    lines.append("")
    header = "mean ms per step".ljust(58) + "".join(f"{r['label'] + ' c' + str(r['concurrency']):>11}" for r in rows)
    lines.append(header)
    steps = [s for s in STEP_ORDER if any(s in r["step_ms_mean"] for r in rows)]
    for step in steps:
        values = "".join(f"{r['step_ms_mean'].get(step, '-'):>11}" for r in rows)
        lines.append(f"{STEP_LABELS.get(step, step)[:57]:<58}{values}")
    functions = sorted({name for r in rows for name in r["handler_ms_mean"]})
    for name in functions:
        values = "".join(f"{r['handler_ms_mean'].get(name, '-'):>11}" for r in rows)
        lines.append(f"{('  handler alone: ' + name)[:57]:<58}{values}")
    return "\n".join(lines)


def print_result(result: dict[str, Any]) -> None:
    print("\nlocal workflow benchmark (figures depend on the machine's load: see `load`)")
    print(table(result))
    print(json.dumps({"workflow_bench": result}))
