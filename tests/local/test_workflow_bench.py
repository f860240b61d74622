"""`scones bench-workflow`, as `make bench` runs it: a child process on a tiny model and a few images.

Only the shape and the consistency of the report are checked here (timing goals live in the
benchmark itself, not in a timed test)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_workflow_reports_each_concurrency_with_its_step_breakdown(tiny_model_path):
    result = subprocess.run(
        [sys.executable, "-m", "scones.cli", "bench-workflow", "--model", str(tiny_model_path), "--per-class", "2",
         "--concurrency", "1", "2", "--rounds", "2"],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert any(line.startswith("mean ms per step") for line in lines), result.stdout
    report = json.loads(lines[-1])["workflow_bench"]
    assert report["rounds"] == 2
    cold, runs = report["cold"], report["runs"]
    assert [run["concurrency"] for run in runs] == [1, 2]
    assert cold["images"] >= 4
    for run in runs:
        assert run["images"] == 2 * cold["images"]  # every round is a new copy of the image set
        assert sum(run["counts"].values()) == run["images"]
        assert run["throughput_images_per_s"] > 0
        assert 0 < run["latency_ms"]["p50"] <= run["latency_ms"]["p99"]
        # each of the three functions every image passes, by its template id (handler time alone)
        for function in ("SerializeImage", "ClassifyVehicle", "CheckConfidence"):
            assert any(name.startswith(function) and ms > 0 for name, ms in run["handler_ms_mean"].items()), function
        assert run["step_ms_mean"], "no per-step breakdown"
        assert run["cpu_ms_per_image"]["runtime_process"] > 0
