"""The local runtime end to end: synthesized workflow + real handlers + real model behind the
local SageMaker runtime API. Faults, load and hostile files."""
from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from scones.local.hostile_files import write_hostile_files
from scones.local.iam_enforcement import enforce_iam
from scones.local.runtime import LocalWorkflow, display_path, list_images, upload_key
from scones_contracts.quarantine import quarantine_location

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "cifar100-bicycle-motorcycle"
FIXTURES = ROOT / "tests" / "fixtures" / "images"
OUTCOMES = {"routed", "review", "quarantined", "review_expired", "failed"}


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


def waiting_reviews(aws) -> list[dict]:
    """Pending review items of images that wait for a reviewer (low confidence or failed processing)."""
    return [aws.pending_review(arn) for arn in sorted(aws.pending_executions())]


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
    review = [o for o in outcomes if o.outcome == "review"]
    assert all(o.reason == "low_confidence" and o.confidence < workflow.config.decision.threshold for o in review)
    waiting = [item for item in waiting_reviews(workflow.aws) if item["reason"] == "low_confidence"]
    assert sorted(item["key"] for item in waiting) == sorted(o.key for o in review), "each waits on a review item"
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
        ("state machine", "s3:PutObject"), ("state machine", "events:PutEvents"), ("function", "dynamodb:PutItem"),
        ("function", "s3:HeadObject"), ("function", "s3:GetObject"), ("function", "sagemaker-runtime:InvokeEndpoint")}


def test_the_runtimes_waiting_check_reads_what_the_review_index_lists(workflow, tmp_path):
    """The runtime asks at every poll which executions wait for a reviewer, by key on moto's table (the
    status-index query it replaced grew with every review left open): both answers must agree."""
    sample_images(tmp_path / "images", 16)
    files = list_images(tmp_path / "images")
    outcomes = list(workflow.run(files, tmp_path / "images", concurrency=4))
    arn = workflow.aws.deployed.state_machine_arn
    executions = {e["executionArn"] for page in workflow.aws.sfn.get_paginator("list_executions").paginate(
        stateMachineArn=arn) for e in page["executions"]}
    listed = workflow.aws.pending_executions()
    assert any(o.outcome == "review" for o in outcomes) and listed, "the tiny model leaves some images to a reviewer"
    assert workflow.aws.waiting_executions(executions) == listed
    assert workflow.aws.waiting_executions([f"{arn.replace(':stateMachine:', ':execution:')}:unknown"]) == set()
    drain(workflow.aws, workflow.aws.deployed.routing_capture_queue_url)


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


def test_injected_endpoint_faults_are_retried_and_then_wait_for_a_reviewer(workflow, tmp_path):
    labels = sample_images(tmp_path / "faults", 6)
    files = list_images(tmp_path / "faults")
    workflow.server.set_faults(1.0, "mixed", 0)
    try:
        outcomes = list(workflow.run(files, tmp_path / "faults", concurrency=6))
    finally:
        workflow.server.set_faults(0.0, "mixed", 0)
    assert len(outcomes) == len(labels)
    for outcome in outcomes:
        assert outcome.outcome == "review" and outcome.label is None, outcome
        reason, error, _ = outcome.reason.split(": ", 2)
        assert reason == "processing_failed"
        assert error in ("EndpointThrottledError", "EndpointUnavailableError"), outcome.reason
        assert workflow.aws.s3.head_object(Bucket=workflow.aws.deployed.bucket, Key=outcome.key)  # image kept
    parked = {item["key"]: item for item in waiting_reviews(workflow.aws) if item["reason"] == "processing_failed"}
    assert set(parked) >= {o.key for o in outcomes}
    assert all(parked[o.key]["error"] in ("EndpointThrottledError", "EndpointUnavailableError") for o in outcomes)


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
    survived = [o for o in outcomes if o.outcome == "routed" or (o.outcome == "review" and o.label)]
    assert survived, "with 4 attempts per image, retries must rescue images from a 50% fault rate"
    for outcome in outcomes:
        assert outcome.outcome in ("routed", "review"), outcome
        if outcome.label is None:  # retries exhausted: waits for a reviewer with the error
            assert outcome.reason.startswith("processing_failed: EndpointThrottledError")


def odd_names(images: Path) -> dict[str, Path]:
    """A file whose name is not UTF-8 (Linux allows any bytes but '/' and NUL) and one with a '%'."""
    images.mkdir(parents=True, exist_ok=True)
    invalid = Path(os.fsdecode(os.fsencode(images) + b"/caf\xe9 \xff photo.png"))
    invalid.write_bytes(b"not utf-8 named, not an image either")
    percent = images / "50% off.png"
    percent.write_bytes((FIXTURES / "bike_s_000682.png").read_bytes())
    return {"incoming/caf%E9 %FF photo.png": invalid, "incoming/50% off.png": percent}


def run_cli(images: Path, model: Path, workdir: Path, env: dict[str, str | None], *extra: str):
    """`scones run --json` in a child with `env` changed (None: unset); bytes out, as the console gets them."""
    environment = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-m", "scones.cli", "run", "--images", str(images), "--model", str(model),
         "--concurrency", "4", "--json", "--workdir", str(workdir), *extra],
        capture_output=True, timeout=600, cwd=ROOT, env=environment)


def json_lines(stdout: bytes) -> list[dict]:
    text = stdout.decode("utf-8")  # strict: raw bytes of a file name would fail here
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_scones_run_json_cli(tiny_model_path, tmp_path):
    """The interface our checks use: one JSON line per input file, then one summary line; with every
    upload event delivered twice, as EventBridge may, still one line per file and one routing
    event per routed image. stdout is strict UTF-8 and one file name is not UTF-8: every file
    still gets its valid line (the key escaped, the rename noted on stderr) and the run goes on."""
    images = tmp_path / "images"
    labels = sample_images(images, 4)
    hostile_files(images / "bad")
    odd = odd_names(images)
    files = list_images(images)
    result = run_cli(images, tiny_model_path, tmp_path / "work", {"PYTHONIOENCODING": "utf-8:strict"},
                     "--duplicate-deliveries")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = json_lines(result.stdout)
    per_file, summary = lines[:-1], lines[-1]
    assert sorted(o["key"] for o in per_file) == sorted(upload_key("incoming/", images, f) for f in files)
    assert set(odd) <= {o["key"] for o in per_file}
    for outcome in per_file:
        assert set(outcome) == {"key", "outcome", "label", "confidence", "reason", "reason_code", "latency_ms",
                                "decided_by", "review_id"}
        assert outcome["outcome"] in OUTCOMES
        assert outcome["decided_by"] == ("model" if outcome["outcome"] == "routed" else None)
        assert (outcome["review_id"] is not None) == (outcome["outcome"] == "review")
    by_key = {o["key"]: o for o in per_file}
    assert by_key["incoming/caf%E9 %FF photo.png"]["outcome"] == "quarantined"
    assert by_key["incoming/50% off.png"]["outcome"] in ("routed", "review")
    notice = "'caf\\xe9 \\xff photo.png': the name is not valid UTF-8; uploaded as 'incoming/caf%E9 %FF photo.png'"
    assert notice in result.stderr.decode(), result.stderr.decode()[-2000:]
    assert summary["summary"] is True and summary["images"] == len(files)
    assert summary["counts"]["quarantined"] == 9
    assert summary["counts"]["routed"] + summary["counts"]["review"] == len(labels) + 1
    assert summary["duplicate_deliveries"] is True and summary["duplicates"] == len(files)
    assert summary["routing_events"] == summary["counts"]["routed"]
    assert Path(summary["capture_dir"]).is_dir()  # the local endpoint captured the traffic


def test_scones_run_under_the_c_utf8_locale_reports_progress(tiny_model_path, tmp_path):
    """Under C.UTF-8 a name's raw bytes used to reach the JSON line; and a run longer than
    --progress-every says how far it is on stderr."""
    images = tmp_path / "images"
    sample_images(images, 2)
    odd = odd_names(images)
    env = {"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "PYTHONIOENCODING": None, "PYTHONUTF8": None}
    result = run_cli(images, tiny_model_path, tmp_path / "work", env, "--progress-every", "0.05",
                     "--image-timeout", "600")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = json_lines(result.stdout)
    keys = sorted(o["key"] for o in lines[:-1])
    assert keys == sorted(upload_key("incoming/", images, f) for f in list_images(images)) and set(odd) <= set(keys)
    assert result.stdout.isascii()
    progress = [line for line in result.stderr.decode().splitlines() if "files done" in line]
    assert progress and progress[-1].startswith("scones run: ") and "/4 files done" in progress[-1]


def test_keys_of_names_that_are_not_utf8_are_escaped_and_never_collide(workflow, tmp_path):
    folder = tmp_path / "names"
    folder.mkdir()
    invalid = Path(os.fsdecode(os.fsencode(folder) + b"/caf\xe9 50%.png"))
    invalid.write_bytes(b"y")
    literal = folder / "caf%E9 50%25.png"  # a valid name that reads like the escaped one
    literal.write_bytes(b"x")
    assert upload_key("incoming/", folder, invalid) == "incoming/caf%E9 50%25.png"
    assert upload_key("incoming/", folder, literal) == "incoming/caf%E9 50%25.png"
    assert display_path(invalid).endswith("caf\\xe9 50%.png")

    keys, refused = workflow._keys([invalid, literal], folder)
    assert list(keys) == ["incoming/caf%E9 50%25.png"] and keys["incoming/caf%E9 50%25.png"] == invalid
    assert [(o.key, o.outcome) for o in refused] == [("incoming/caf%E9 50%25.png", "failed")]
    assert refused[0].reason == f"not uploaded: its S3 key is also the key of {display_path(invalid)}"
    deep = folder.joinpath(*["d" * 250] * 4, "e" * 250 + ".png")  # 1,258 bytes of relative path
    _, too_long = workflow._keys([deep], folder)
    assert too_long[0].reason == "not uploaded: its S3 key would be 1267 bytes, S3 allows 1024"


def test_each_image_has_its_own_deadline_and_every_file_is_uploaded(workflow, tmp_path):
    """No whole-run limit: with a deadline too short for any execution, every file is still
    uploaded and reported once, and progress is reported while the run goes on."""
    parameters = inspect.signature(LocalWorkflow.run).parameters
    assert "image_timeout_s" in parameters and "timeout_s" not in parameters, "no whole-run deadline to hit"
    sample_images(tmp_path / "deadline", 6)
    files = list_images(tmp_path / "deadline")
    progress = []

    outcomes = list(workflow.run(files, tmp_path / "deadline", concurrency=2, image_timeout_s=0.001,
                                 on_progress=progress.append, progress_every_s=0.001))

    assert sorted(o.key for o in outcomes) == sorted(upload_key("incoming/", tmp_path / "deadline", f) for f in files)
    assert all(o.outcome == "failed" and o.reason.startswith("no outcome within the per-image deadline")
               for o in outcomes), [o.reason for o in outcomes]
    bucket = workflow.aws.deployed.bucket
    assert all(workflow.aws.s3.head_object(Bucket=bucket, Key=o.key) for o in outcomes), "every file was uploaded"
    assert progress and progress[-1].files == 6 and [p.done for p in progress] == sorted(p.done for p in progress)
    assert "files done" in progress[-1].line()
    # Leave the shared local cloud as found: let the executions the deadline gave up on finish (or
    # wait for a reviewer, as the other tests' low-confidence images do).
    deadline = time.monotonic() + 120
    arn = workflow.aws.deployed.state_machine_arn
    while {e["executionArn"] for e in workflow.aws.sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")[
            "executions"]} - workflow.aws.pending_executions():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    drain(workflow.aws, workflow.aws.deployed.routing_capture_queue_url)
