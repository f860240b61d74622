"""The local runtime end to end: synthesized workflow + real handlers + real model behind the
local SageMaker runtime API. Faults, load and hostile files."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from scones.local.hostile_files import write_hostile_files
from scones.local.iam_enforcement import enforce_iam
from scones.local.runtime import LocalWorkflow, list_images
from scones_contracts.quarantine import quarantine_location

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "cifar100-bicycle-motorcycle"
FIXTURES = ROOT / "tests" / "fixtures" / "images"
OUTCOMES = {"routed", "review", "quarantined", "failed"}


def hostile_files(folder: Path) -> dict[str, str]:
    """name -> a fragment of the reason serialize must give."""
    return write_hostile_files(folder, (FIXTURES / "bike_s_000682.png").read_bytes())


def sample_images(target: Path, count: int) -> dict[str, str]:
    """`count` real images from the sample data, in nested folders with awkward names."""
    rows = [line.split("\t") for line in (SAMPLE / "train.lst").read_text().splitlines() if line.strip()]
    labels = {}
    for i, (_, label, name) in enumerate(rows[:count]):
        folder = target / ("ünïcode drivers" if i % 3 == 0 else f"batch {i % 5}")
        folder.mkdir(parents=True, exist_ok=True)
        destination = folder / f"{i:04d} {name.strip()}"
        shutil.copyfile(SAMPLE / "train" / name.strip(), destination)
        labels[destination.relative_to(target).as_posix()] = "bicycle" if label == "0" else "motorcycle"
    return labels


@pytest.fixture(scope="module")
def workflow(tiny_model_path, tmp_path_factory):
    """The local runtime, with every AWS call of the state machine and the handlers checked against the
    synthesized roles (scones.local.iam_enforcement)."""
    with LocalWorkflow(tiny_model_path, tmp_path_factory.mktemp("local-run")) as running, \
            enforce_iam(running.assembly, running.aws.resolver) as iam:
        running.iam = iam
        yield running


@pytest.fixture(autouse=True)
def nothing_denied(request):
    """A test of the local runtime fails if any call it made was denied by the synthesized policies."""
    yield
    if "workflow" in request.fixturenames:
        denials = request.getfixturevalue("workflow").iam.take_denials()
        assert not denials, "\n".join(d.describe() for d in denials)


def drain(aws, url: str) -> list[dict]:
    bodies = []
    while True:
        batch = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return bodies
        for message in batch:
            bodies.append(json.loads(message["Body"]))
            aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_many_images_at_concurrency_8_nothing_lost_no_duplicate_routing(workflow, tmp_path):
    labels = sample_images(tmp_path / "load", 200)
    hostile = hostile_files(tmp_path / "load" / "hostile")
    files = list_images(tmp_path / "load")
    assert len(files) == 208
    outcomes = list(workflow.run(files, tmp_path / "load", concurrency=8))

    keys = [o.key for o in outcomes]
    assert len(keys) == len(set(keys)) == len(files), "every input has exactly one outcome"
    assert {o.outcome for o in outcomes} <= OUTCOMES
    by_key = {o.key: o for o in outcomes}
    for name, reason in hostile.items():
        outcome = by_key[f"incoming/hostile/{name}"]
        assert outcome.outcome == "quarantined", outcome
        assert reason.lower() in outcome.reason.lower(), outcome.reason
    classified = [by_key[f"incoming/{name}"] for name in labels]
    assert all(o.outcome in ("routed", "review") and o.label in ("bicycle", "motorcycle") for o in classified)
    accuracy = sum(o.label == labels[o.key[len("incoming/"):]] for o in classified) / len(classified)
    assert accuracy > 0.6, f"the tiny model should beat chance clearly, got {accuracy:.2f}"

    routed = [o for o in outcomes if o.outcome == "routed"]
    events = drain(workflow.aws, workflow.aws.deployed.routing_capture_queue_url)
    routed_keys = [e["detail"]["key"] for e in events]
    assert sorted(routed_keys) == sorted(o.key for o in routed), "one routing event per routed image"
    assert not [k for k, n in Counter(routed_keys).items() if n > 1]
    review = [m for m in drain(workflow.aws, workflow.aws.deployed.review_queue_url) if m["reason"] == "low_confidence"]
    assert sorted(m["key"] for m in review) == sorted(o.key for o in outcomes if o.outcome == "review")
    bucket = workflow.aws.deployed.bucket
    for name in hostile:
        key = f"incoming/hostile/{name}"
        upload = workflow.aws.s3.head_object(Bucket=bucket, Key=key)
        where = quarantine_location(key, version_id=upload.get("VersionId"), etag=upload["ETag"].strip('"'),
                                    incoming_prefix="incoming/", quarantine_prefix="quarantine/")
        assert workflow.aws.s3.head_object(Bucket=bucket, Key=where.image_key)  # kept, under quarantine/
        assert json.loads(workflow.aws.s3.get_object(Bucket=bucket, Key=where.reason_key)["Body"].read())["reason"]
    assert all(o.steps_ms.get("serialize", 0) > 0 for o in classified)
    # Every kind of call the workflow makes ran under the IAM check as its role (none denied: see nothing_denied).
    assert {(c.principal.kind, f"{c.call.service}:{c.call.operation}") for c in workflow.iam.checked} >= {
        ("state machine", "dynamodb:PutItem"), ("state machine", "lambda:Invoke"), ("state machine", "s3:CopyObject"),
        ("state machine", "s3:PutObject"), ("state machine", "events:PutEvents"), ("state machine", "sqs:SendMessage"),
        ("function", "s3:HeadObject"), ("function", "s3:GetObject"), ("function", "sagemaker-runtime:InvokeEndpoint")}


def test_duplicate_deliveries_route_each_image_once_and_report_it_once(workflow, tmp_path):
    """EventBridge may deliver an upload event twice: both executions start (fresh names, as in AWS),
    the delivery claim lets one route the image, the other ends `duplicate`, and the file still has
    one outcome."""
    sample_images(tmp_path / "twice", 10)
    hostile_files(tmp_path / "twice" / "hostile")
    files = list_images(tmp_path / "twice")
    drain(workflow.aws, workflow.aws.deployed.routing_capture_queue_url)
    before = workflow.duplicates
    outcomes = list(workflow.run(files, tmp_path / "twice", concurrency=8, duplicate_deliveries=True))

    assert sorted(o.key for o in outcomes) == sorted(f"incoming/{f.relative_to(tmp_path / 'twice').as_posix()}"
                                                     for f in files), "one outcome per file, not per delivery"
    assert {o.outcome for o in outcomes} <= OUTCOMES
    assert workflow.duplicates - before == len(files), "every second delivery was refused as a duplicate"
    routed = sorted(o.key for o in outcomes if o.outcome == "routed")
    events = drain(workflow.aws, workflow.aws.deployed.routing_capture_queue_url)
    assert sorted(e["detail"]["key"] for e in events) == routed, "one routing event per routed image"
    quarantined = [o for o in outcomes if o.outcome == "quarantined"]
    assert len(quarantined) == 8 and all(o.reason for o in quarantined)


def test_injected_endpoint_faults_are_retried_and_then_parked(workflow, tmp_path):
    labels = sample_images(tmp_path / "faults", 6)
    files = list_images(tmp_path / "faults")
    workflow.server.set_faults(1.0, "mixed", 0)
    try:
        outcomes = list(workflow.run(files, tmp_path / "faults", concurrency=6))
    finally:
        workflow.server.set_faults(0.0, "mixed", 0)
    assert len(outcomes) == len(labels)
    for outcome in outcomes:
        assert outcome.outcome == "failed"
        assert outcome.reason.split(":")[0] in ("EndpointThrottledError", "EndpointUnavailableError"), outcome.reason
        assert workflow.aws.s3.head_object(Bucket=workflow.aws.deployed.bucket, Key=outcome.key)  # image kept
    parked = [m for m in drain(workflow.aws, workflow.aws.deployed.review_queue_url) if m["reason"] == "processing_failed"]
    assert sorted(m["key"] for m in parked) == sorted(o.key for o in outcomes)


def test_partial_faults_are_absorbed_by_retries(workflow, tmp_path):
    labels = sample_images(tmp_path / "flaky", 8)
    files = list_images(tmp_path / "flaky")
    before = workflow.server.invocation_stats()["faults"]
    workflow.server.set_faults(0.5, "throttle", 1)
    try:
        outcomes = list(workflow.run(files, tmp_path / "flaky", concurrency=8))
    finally:
        workflow.server.set_faults(0.0, "mixed", 0)
    assert len({o.key for o in outcomes}) == len(labels)
    assert workflow.server.invocation_stats()["faults"] > before, "faults were injected"
    survived = [o for o in outcomes if o.outcome in ("routed", "review")]
    assert survived, "with 4 attempts per image, retries must rescue images from a 50% fault rate"
    for outcome in outcomes:
        if outcome.outcome == "failed":
            assert outcome.reason.startswith("EndpointThrottledError")


def test_scones_run_json_cli(tiny_model_path, tmp_path):
    """The interface our checks use: one JSON line per input file, then one summary line; with every
    upload event delivered twice, as EventBridge may, still one line per file and one routing
    event per routed image."""
    images = tmp_path / "images"
    labels = sample_images(images, 4)
    hostile_files(images / "bad")
    files = list_images(images)
    result = subprocess.run(
        [sys.executable, "-m", "scones.cli", "run", "--images", str(images), "--model", str(tiny_model_path),
         "--concurrency", "4", "--json", "--duplicate-deliveries", "--workdir", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    per_file, summary = lines[:-1], lines[-1]
    assert sorted(o["key"] for o in per_file) == sorted("incoming/" + f.relative_to(images).as_posix() for f in files)
    for outcome in per_file:
        assert set(outcome) == {"key", "outcome", "label", "confidence", "reason", "latency_ms"}
        assert outcome["outcome"] in OUTCOMES
    assert summary["summary"] is True and summary["images"] == len(files)
    assert summary["counts"]["quarantined"] == 8
    assert summary["counts"]["routed"] + summary["counts"]["review"] == len(labels)
    assert summary["duplicate_deliveries"] is True and summary["duplicates"] == len(files)
    assert summary["routing_events"] == summary["counts"]["routed"]
    assert Path(summary["capture_dir"]).is_dir()  # the local endpoint captured the traffic
