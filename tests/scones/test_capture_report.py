"""`scones capture-report`: JSON last line, text output, plots, exit codes, S3 source."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from PIL import Image

from lambdas.drift.capture import parse_paths
from scones.capture_report import PLOT_FILES
from scones.capture_writer import CaptureWriter
from scones.cli import main

REQUIRED_KEYS = {"records", "bad_records", "class_counts", "mean_confidence", "low_confidence_share",
                 "threshold", "drift"}


def _report(capsys, *argv):
    code = main(["capture-report", *argv, "--json"])
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    return code, json.loads(last)


def _independent(lib, root, since=None):
    objs = [json.loads(line) for _, line in lib.raw_capture_lines(root)]
    if since:
        objs = [o for o in objs if o["eventMetadata"]["inferenceTime"] >= since]
    probs = [lib.raw_output_probs(o) for o in objs]
    counts = {n: sum(1 for p in probs if lib.CLASS_NAMES[p.index(max(p))] == n) for n in lib.CLASS_NAMES}
    return len(objs), counts, sum(max(p) for p in probs) / len(probs)


def test_json_report_on_real_samples(lib, capsys):
    code, report = _report(capsys, "--capture", str(lib.REAL_CAPTURE))
    assert code == 0
    assert REQUIRED_KEYS <= set(report)
    n, counts, mean = _independent(lib, lib.REAL_CAPTURE)
    assert report["records"] == n == 22
    assert report["class_counts"] == counts
    assert report["mean_confidence"] == pytest.approx(mean)
    assert report["capture"]["files"] == 12
    assert report["drift"] == {"computed": False, "reason": "no baseline given"}


def test_since_filters_records(lib, capsys):
    since = "2024-10-16T09:25:00Z"
    code, report = _report(capsys, "--capture", str(lib.REAL_CAPTURE), "--since", since)
    n, counts, mean = _independent(lib, lib.REAL_CAPTURE, since=since)
    assert code == 0 and report["records"] == n and 0 < n < 22
    assert report["class_counts"] == counts
    assert report["capture"]["records_filtered_out"] == 22 - n
    assert report["first_inference_time"] >= since


def test_json_last_line_as_a_real_process(lib, tmp_path, baseline_file):
    proc = subprocess.run(
        [sys.executable, "-m", "scones.cli", "capture-report", "--capture", str(lib.FIXTURES),
         "--baseline", str(baseline_file), "--threshold", "0.9", "--json"],
        capture_output=True, text=True, cwd=lib.ROOT, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert REQUIRED_KEYS <= set(report)
    assert report["threshold"] == 0.9
    assert report["bad_records"] == len(parse_paths(lib.MALFORMED).bad)
    assert report["drift"]["computed"] is True
    assert report["drift"]["thresholds"]["low_confidence_threshold"] == 0.9


def test_defaults_are_the_configured_knobs_the_drift_check_uses(lib, capsys, baseline_dict, baseline_file):
    """Without flags the report judges as the deployed check does: the config's threshold, PSI bound and
    minimum records (a `-c` override included), not the baseline's recorded threshold."""
    assert baseline_dict["threshold"] != 0.8
    argv = ["-c", "confidence_threshold=0.8", "-c", "drift_psi_alarm_threshold=0.3", "-c", "drift_min_records=7",
            "capture-report", "--capture", str(lib.FIXTURES), "--baseline", str(baseline_file), "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["threshold"] == 0.8
    assert report["drift"]["thresholds"]["low_confidence_threshold"] == 0.8
    assert report["drift"]["thresholds"]["psi"] == 0.3
    assert report["drift"]["thresholds"]["min_records"] == 7


def test_drift_detected_still_exits_zero_and_writes_plots(lib, tmp_path, capsys, baseline_dict):
    model = tmp_path / "model.tar.gz"
    model.write_bytes(lib.model_tar_gz(baseline_dict))
    writer = CaptureWriter(tmp_path / "capture", lib.ENDPOINT)
    probs = lib.sample_traffic(baseline_dict, 200, seed=9, low_confidence=True, bicycle_share=0.15)
    lib.write_traffic(writer, probs, lib.utc(2024, 11, 2, 6), spacing=timedelta(minutes=1))
    plots = tmp_path / "plots"
    code, report = _report(capsys, "--capture", str(tmp_path / "capture"), "--baseline", str(model),
                           "--plots", str(plots))
    assert code == 0
    assert report["records"] == 200
    assert report["drift"]["drift_detected"] is True
    assert any("class-mix" in r for r in report["drift"]["reasons"])
    assert len(report["hourly"]) == 4  # 200 minutes from 06:00 -> hours 06..09
    assert sorted(os.path.basename(p) for p in report["plots"]) == sorted(PLOT_FILES.values())
    for path in report["plots"]:
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.width >= 600 and image.height >= 300
            # not a blank canvas: a plot has many colours
            assert len(image.convert("RGB").getcolors(maxcolors=100000) or []) > 10


def test_text_output(lib, capsys, baseline_file):
    code = main(["capture-report", "--capture", str(lib.FIXTURES), "--baseline", str(baseline_file)])
    out = capsys.readouterr().out
    assert code == 0
    n, counts, _ = _independent(lib, lib.REAL_CAPTURE)
    assert "Records:" in out and "bad" in out
    assert f"bicycle {counts['bicycle'] + 2}" in out  # + the 2 bicycle records of the malformed fixture
    assert "bad record" in out and ".jsonl:4: malformed JSON" in out
    assert "Confidence PSI:" in out
    assert "not flagged" in out or "DETECTED" in out or "none detected" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("argv,message", [
    (["--capture", "/definitely/not/here"], "capture folder not found"),
    (["--capture", "{capture}", "--baseline", "/no/baseline.json"], "baseline file not found"),
    (["--capture", "{capture}", "--baseline", "{garbage}"], "unusable baseline"),
    (["--capture", "{capture}", "--since", "yesterday"], "--since"),
    (["--capture", "{capture}", "--threshold", "1.5"], "--threshold"),
    (["--capture", "{capture}", "--class-names", "bicycle"], "--class-names"),
])
def test_unusable_arguments_exit_nonzero_with_a_message(lib, tmp_path, capsys, argv, message):
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"version": 1}')
    argv = [a.format(capture=lib.REAL_CAPTURE, garbage=garbage) for a in argv]
    code = main(["capture-report", *argv, "--json"])
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert captured.out == ""


def test_help_lists_the_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "capture-report" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def moto_server(monkeypatch):
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    for key, value in {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    yield url
    server.stop()


def test_s3_capture_and_baseline_via_aws_endpoint_url(lib, moto_server, baseline_dict):
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket="scones-data")
    for path in lib.REAL_CAPTURE.rglob("*.jsonl"):
        key = "datacapture/" + path.relative_to(lib.FIXTURES).as_posix()
        s3.put_object(Bucket="scones-data", Key=key, Body=path.read_bytes())
    s3.put_object(Bucket="scones-data", Key="models/v1/model.tar.gz", Body=lib.model_tar_gz(baseline_dict))
    proc = subprocess.run(
        [sys.executable, "-m", "scones.cli", "capture-report",
         "--capture", f"s3://scones-data/datacapture/{lib.ENDPOINT}/",
         "--baseline", "s3://scones-data/models/v1/model.tar.gz", "--json"],
        capture_output=True, text=True, cwd=lib.ROOT, timeout=120, env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    n, counts, mean = _independent(lib, lib.REAL_CAPTURE)
    assert report["records"] == n and report["class_counts"] == counts
    assert report["capture"]["files"] == 12
    assert report["drift"]["computed"] is True
    assert report["drift"]["baseline"]["records"] == len(baseline_dict["top_confidence"])
    missing = subprocess.run(
        [sys.executable, "-m", "scones.cli", "capture-report", "--capture", "s3://no-such-bucket/x/", "--json"],
        capture_output=True, text=True, cwd=lib.ROOT, timeout=120, env=dict(os.environ),
    )
    assert missing.returncode == 2 and "cannot list capture" in missing.stderr
