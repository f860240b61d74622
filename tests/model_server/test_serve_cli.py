"""`scones serve`: the real command in a subprocess (prints the URL, serves boto3, stops on Ctrl-C), flags."""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from scones.local.model_server import DEFAULT_ENDPOINT_NAME

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPORT = "export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME="


def _lines(stream, sink: queue.Queue) -> None:
    for line in stream:
        sink.put(line.rstrip("\n"))
    sink.put(None)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_scones_serve_runs_in_the_foreground_and_stops_cleanly(tiny_model_path, tmp_path, runtime_client, images,
                                                               stop_signal):
    capture = tmp_path / "capture"
    process = subprocess.Popen(
        [sys.executable, "-m", "scones.cli", "serve", "--model", str(tiny_model_path), "--port", "0",
         "--capture-dir", str(capture), "--endpoint-name", "local-test", "--log-level", "warning"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    output: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, output), daemon=True).start()
    seen, url = [], None
    try:
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            try:
                line = output.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
            if line.strip().startswith(EXPORT):
                url = line.strip()[len(EXPORT):]
        assert url is not None, f"no export line; stdout={seen} stderr={process.stderr.read() if process.poll() is not None else ''}"
        assert url.startswith("http://127.0.0.1:")

        response = runtime_client(url).invoke_endpoint(EndpointName="local-test", ContentType="image/png",
                                                      Body=images[0].png)
        probabilities = json.loads(response["Body"].read())
        assert len(probabilities) == 2
    finally:
        process.send_signal(stop_signal)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    rest = []
    while (line := output.get(timeout=5)) is not None:
        rest.append(line)

    assert code == 0
    assert any("Ctrl-C" in line for line in seen + rest)
    assert any(line == "stopped after 1 invocations (0 errors)" for line in rest), rest
    assert len(list(capture.rglob("*.jsonl"))) == 1


@pytest.mark.parametrize("flags", [["--inject-errors", "1.5"], ["--inject-errors", "x"], ["--port", "70000"],
                                   ["--sampling-percentage", "101"], ["--fault-kind", "chaos"], ["--workers", "0"]])
def test_bad_flags_are_usage_errors(tiny_model_path, flags, capsys):
    from scones.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["serve", "--model", str(tiny_model_path), *flags])

    assert caught.value.code == 2
    assert flags[0] in capsys.readouterr().err


def test_a_missing_model_is_exit_code_2(tmp_path, capsys):
    from scones.cli import main

    assert main(["serve", "--model", str(tmp_path / "missing.tar.gz")]) == 2
    assert "model not found" in capsys.readouterr().err


def test_the_default_endpoint_name_is_the_app_configs():
    """`scones serve` answers to the config's endpoint_name, with `scones -c` overrides (no cdk.json reading of its own)."""
    from scones.cli import build_parser
    from stacks.config import SconesConfig, load_config

    assert DEFAULT_ENDPOINT_NAME == SconesConfig().endpoint.name
    args = build_parser().parse_args(["serve", "--model", "m.tar.gz"])
    assert args.endpoint_name == load_config().endpoint.name
    staging = load_config({"endpoint_name": "scones-staging"})
    assert build_parser(staging).parse_args(["serve", "--model", "m.tar.gz"]).endpoint_name == "scones-staging"

