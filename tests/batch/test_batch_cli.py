"""`scones batch`: against "AWS" (boto3 against moto holding the synthesized stacks) and locally
(`--images DIR`, the same synthesized machine in moto, through the real CLI in a subprocess)."""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from lambdas.shared import aws_clients
from scones.batch.cli import run_on_aws
from scones.batch.client import execution_name
from scones.cli import main
from scones.local.aws import LocalAws
from scones.local.moto_shims import local_cloud
from tests.workflow.batch_support import CONFIDENT, REFUSED, UNSURE, ColourEndpoint, drain, png, put

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "cifar100-bicycle-motorcycle"


@pytest.fixture
def aws(assembly):
    with local_cloud():
        local = LocalAws(assembly)
        local.deploy()
        aws_clients.install("sagemaker-runtime", ColourEndpoint().client)
        yield local
    aws_clients.reset_clients()


def on_aws(assembly, uri: str, publish: bool = False, as_json: bool = True) -> tuple[int, str]:
    """`scones batch --prefix URI` with boto3's clients (moto's here) and the app's config."""
    out = io.StringIO()
    args = argparse.Namespace(config=assembly.config, prefix=uri, publish_routing_events=publish, json=as_json)
    session = boto3.session.Session(region_name="us-east-1")
    code = run_on_aws(args, session.client("stepfunctions"), session.client("s3"), out)
    return code, out.getvalue()


def test_against_aws_it_starts_the_deployed_machine_waits_and_prints_the_summary(aws, assembly):
    for i in range(6):
        put(aws, f"incoming/2026-11/driver {i}.png", png(CONFIDENT if i % 3 else UNSURE))
    put(aws, "incoming/2026-11/notes.png", b"Driver notes: not a photo of a vehicle, just text.\n" * 3)
    code, printed = on_aws(assembly, f"s3://{aws.deployed.bucket}/incoming/2026-11/")
    assert code == 0
    summary = json.loads(printed)
    assert summary["status"] == "SUCCEEDED" and summary["prefix"] == "incoming/2026-11/"
    assert summary["counts"]["routed"] == 4 and summary["counts"]["review"] == 2 and summary["counts"]["quarantined"] == 1
    assert summary["results"].startswith(f"s3://{aws.deployed.bucket}/batch-results/batch-")
    assert drain(aws, aws.deployed.routing_capture_queue_url) == []  # not asked for

    code, printed = on_aws(assembly, f"s3://{aws.deployed.bucket}/incoming/2026-11/", publish=True, as_json=False)
    assert code == 0 and "batch SUCCEEDED: 7 objects" in printed and "4 routing events published" in printed
    assert len(drain(aws, aws.deployed.routing_capture_queue_url)) == 4


def test_against_aws_a_batch_over_the_tolerance_exits_1_and_says_what_failed(aws, assembly):
    put(aws, "backlog/a/ok.png", png(CONFIDENT))
    put(aws, "backlog/a/refused.png", png(REFUSED))
    code, printed = on_aws(assembly, f"s3://{aws.deployed.bucket}/backlog/a/")
    assert code == 1
    summary = json.loads(printed)
    assert summary["status"] == "FAILED" and summary["error"] == "BatchFailed"
    assert summary["cause"].startswith("States.ExceedToleratedFailureThreshold: 1 of 2 items failed")
    assert summary["counts"]["failed"] == 1 and summary["counts"]["routed"] == 1


@pytest.mark.parametrize("uri, problem", [
    ("s3://someone-elses-bucket/incoming/", "is not the one the batch workflow reads"),
    ("s3://{bucket}/quarantine/", "not under an allowed source prefix ('incoming/', 'backlog/')"),
    ("incoming/", "expected s3://BUCKET/PREFIX/"),
])
def test_against_aws_a_bad_prefix_is_refused_before_anything_starts(aws, assembly, capsys, uri, problem):
    code, printed = on_aws(assembly, uri.format(bucket=aws.deployed.bucket))
    assert code == 2 and printed == ""
    assert problem in capsys.readouterr().err
    assert aws.sfn.list_executions(stateMachineArn=aws.deployed.batch_state_machine_arn)["executions"] == []


def test_against_aws_without_the_deployed_machine_it_says_to_deploy(assembly, capsys):
    with local_cloud():
        code, _ = on_aws(assembly, "s3://bucket/incoming/")
    assert code == 2 and "deploy the workflow stack first" in capsys.readouterr().err


def test_the_scones_entry_point_reaches_aws_with_boto3_defaults(aws, capsys, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    put(aws, "backlog/b/one.png", png(CONFIDENT))
    assert main(["batch", "--prefix", f"s3://{aws.deployed.bucket}/backlog/b/", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"bucket"')]
    assert lines and lines[-1]["summary"] is True and lines[-1]["counts"]["routed"] == 1


def test_execution_names_are_unique_valid_results_folders():
    names = {execution_name() for _ in range(50)}
    assert len(names) == 50
    assert all(len(n) <= 80 and n.startswith("batch-") and "/" not in n for n in names)


def odd_folder(target: Path) -> dict[str, str]:
    """Real sample images and hostile files under names S3 keys find awkward; name -> expectation."""
    rows = [line.split("\t") for line in (SAMPLE / "train.lst").read_text().splitlines() if line.strip()]
    expected = {}
    for i, (_, _, name) in enumerate(rows[:6]):
        relative = ["ünïcode drivers/ph %d é.png", "spaces in name %d .png", "a+b%%20c %d.png",
                    "deep/ér/日本 %d.png", ".hidden %d.png", "x %d.PNG"][i] % i
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE / "train" / name.strip(), target / relative)
        expected[relative] = "classified"
    (target / "notes.png").write_text("Driver notes for the day: picked up at 9, dropped at 11, no photo today.\n" * 3)
    expected["notes.png"] = "quarantined"
    (target / "empty.jpg").write_bytes(b"")
    expected["empty.jpg"] = "quarantined"
    with open(os.fsencode(target) + b"/latin1 \xe9t\xe9.png", "wb") as handle:  # not UTF-8: no S3 key can hold it
        handle.write(b"x")
    expected["latin1 \ufffdt\ufffd.png"] = "failed"
    return expected


@pytest.mark.slow
def test_locally_every_file_gets_exactly_one_line_then_the_summary(tiny_model_path, tmp_path):
    images = tmp_path / "images"
    expected = odd_folder(images)
    result = subprocess.run(
        [sys.executable, "-m", "scones.cli", "-c", "confidence_threshold=0.99", "batch", "--images", str(images),
         "--model", str(tiny_model_path), "--json", "--workdir", str(tmp_path / "work")],
        capture_output=True, timeout=900, cwd=ROOT, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
    lines = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines() if line.strip()]
    per_file, summary = lines[:-1], lines[-1]

    assert len(per_file) == len(expected), "every file exactly one line"
    for line in per_file:
        assert set(line) == {"key", "outcome", "label", "confidence", "reason"}
    prefix = summary["prefix"]
    assert prefix.startswith("backlog/batch-") and prefix.endswith("/")
    by_name = {line["key"].removeprefix(prefix): line for line in per_file}
    assert set(by_name) == set(expected)
    for name, expectation in expected.items():
        line = by_name[name]
        if expectation == "classified":
            assert line["outcome"] in ("routed", "review") and line["label"] in ("bicycle", "motorcycle"), line
            assert 0.5 <= line["confidence"] <= 1
        else:
            assert line["outcome"] == expectation, line
    assert "looks like text" in by_name["notes.png"]["reason"]
    assert "not valid UTF-8" in by_name["latin1 \ufffdt\ufffd.png"]["reason"]
    assert any(line["outcome"] == "review" for line in per_file)  # at 0.99 the tiny model is rarely sure

    assert summary["summary"] is True and summary["status"] == "SUCCEEDED"
    assert summary["files"] == len(expected) and summary["objects"] == len(expected) - 1  # one never uploaded
    assert summary["counts"]["quarantined"] == 2 and summary["routing_events_published"] == 0
    assert summary["file_counts"]["failed"] == 1
