"""The SYNTHESIZED batch-reclassification machine, executed by moto's interpreter (with the Distributed
Map shims of scones.local.moto_distributed_map) and the real handlers; the endpoint answers by image
colour (batch_support.ColourEndpoint). Assertions on outputs, result files, objects, events, history."""
from __future__ import annotations

import json

import pytest

from lambdas.batch_summary.results import find_manifest, read_results
from lambdas.shared import aws_clients
from scones.local.aws import LocalAws
from scones.local.iam_enforcement import enforce_iam
from scones.local.moto_shims import local_cloud
from scones_contracts.events import ROUTING_EVENT_FIELDS
from tests.workflow.batch_support import CONFIDENT, REFUSED, UNSURE, ColourEndpoint, drain, png, put, run_batch


@pytest.fixture
def aws(assembly):
    """The stacks in moto, the endpoint answering by colour, and IAM enforced: every call the batch
    machine and the functions make is checked against their synthesized roles; none may be denied."""
    with local_cloud():
        local = LocalAws(assembly)
        local.deploy()
        endpoint = ColourEndpoint()
        aws_clients.install("sagemaker-runtime", endpoint.client)
        local.endpoint = endpoint
        with enforce_iam(assembly, local.resolver) as enforcement:
            local.iam = enforcement
            yield local
        assert not enforcement.denials, "denied by the synthesized policies:\n" + "\n".join(
            d.describe() for d in enforcement.denials)
    aws_clients.reset_clients()


def results_of(aws: LocalAws, name: str) -> dict:
    """key -> ObjectResult, asserting one result per object."""
    manifest = find_manifest(aws.s3, aws.deployed.bucket, f"batch-results/{name}/")
    assert manifest, "the ResultWriter wrote a manifest"
    results = list(read_results(aws.s3, aws.deployed.bucket, manifest))
    keys = [r.key for r in results]
    assert len(keys) == len(set(keys)), "one result per object"
    return {r.key: r for r in results}


def summary_file(aws: LocalAws, name: str) -> dict:
    return json.loads(aws.s3.get_object(Bucket=aws.deployed.bucket, Key=f"batch-results/{name}/summary.json")["Body"].read())


MIXED = {
    "backlog/fleet/ünïcode driver/bike 1.png": png(CONFIDENT),
    "backlog/fleet/bike 2.png": png(CONFIDENT),
    "backlog/fleet/a+b%20c.png": png(CONFIDENT),
    "backlog/fleet/unsure 1.png": png(UNSURE),
    "backlog/fleet/deep/er/unsure 2.png": png(UNSURE),
    "backlog/fleet/notes.png": b"Driver notes for the day: picked up at 9, dropped at 11, no photo today.\n" * 3,
    "backlog/fleet/truncated.png": png(CONFIDENT)[:40],
    "backlog/fleet/empty folder/": b"",  # a folder marker, as the S3 console creates them
}


def test_valid_invalid_and_low_confidence_objects_each_get_one_result(aws):
    for key, body in MIXED.items():
        put(aws, key, body)
    put(aws, "backlog/other/not mine.png", png(CONFIDENT))  # outside the prefix
    run = run_batch(aws, "backlog/fleet/", name="mixed")

    assert run["status"] == "SUCCEEDED", run.get("cause")
    summary = json.loads(run["output"])
    assert summary["counts"] == {"routed": 3, "review": 2, "quarantined": 2, "skipped": 1, "failed": 0,
                                 "not_started": 0}
    assert (summary["objects"], summary["failed_percentage"], summary["routing_events_published"]) == (8, 0.0, 0)
    assert summary["status"] == "SUCCEEDED" and summary["prefix"] == "backlog/fleet/"
    assert summary_file(aws, "mixed") == summary

    results = results_of(aws, "mixed")
    assert set(results) == set(MIXED)
    outcomes = {key: r.outcome for key, r in results.items()}
    assert [k for k, o in outcomes.items() if o == "routed"] and all(
        results[k].label == "bicycle" and results[k].confidence == pytest.approx(0.99) and results[k].reason is None
        for k, o in outcomes.items() if o == "routed")
    assert outcomes["backlog/fleet/unsure 1.png"] == outcomes["backlog/fleet/deep/er/unsure 2.png"] == "review"
    assert results["backlog/fleet/unsure 1.png"].reason == "confidence below the threshold 0.93"
    assert outcomes["backlog/fleet/empty folder/"] == "skipped"
    assert outcomes["backlog/fleet/notes.png"] == outcomes["backlog/fleet/truncated.png"] == "quarantined"
    assert "looks like text" in results["backlog/fleet/notes.png"].reason
    assert "truncated" in results["backlog/fleet/truncated.png"].reason

    # Quarantined as the upload workflow would (serialize's key scheme), the object itself kept.
    records = _succeeded_outputs(aws, "mixed")
    notes = records["backlog/fleet/notes.png"]
    assert notes["quarantine_key"].startswith("quarantine/backlog/fleet/notes.png/")
    copy = aws.s3.get_object(Bucket=aws.deployed.bucket, Key=notes["quarantine_key"])
    assert copy["Body"].read() == MIXED["backlog/fleet/notes.png"]
    reason = json.loads(aws.s3.get_object(Bucket=aws.deployed.bucket, Key=notes["reason_key"])["Body"].read())
    assert reason["key"] == "backlog/fleet/notes.png" and reason["reason_code"] == "not_an_image"
    assert aws.s3.get_object(Bucket=aws.deployed.bucket, Key="backlog/fleet/notes.png")["Body"].read() == \
        MIXED["backlog/fleet/notes.png"]

    # A backfill dispatches no one: no routing event, no review item, no upload workflow run.
    assert drain(aws, aws.deployed.routing_capture_queue_url) == []
    assert aws.dynamodb.scan(TableName=aws.deployed.review_table)["Items"] == []
    assert aws.sfn.list_executions(stateMachineArn=aws.deployed.state_machine_arn)["executions"] == []
    assert aws.endpoint.calls == 5  # the five valid images, once each


def _succeeded_outputs(aws: LocalAws, name: str) -> dict:
    manifest = json.loads(aws.s3.get_object(Bucket=aws.deployed.bucket,
                                            Key=find_manifest(aws.s3, aws.deployed.bucket, f"batch-results/{name}/"))["Body"].read())
    outputs = {}
    for entry in manifest["ResultFiles"]["SUCCEEDED"]:
        for record in json.loads(aws.s3.get_object(Bucket=aws.deployed.bucket, Key=entry["Key"])["Body"].read()):
            output = json.loads(record["Output"])
            outputs[output["key"]] = output
    return outputs


def test_routing_events_exactly_one_per_routed_object_only_when_asked(aws):
    for key, body in MIXED.items():
        put(aws, key, body)
    run = run_batch(aws, "backlog/fleet/", publish=True, name="publish")
    assert run["status"] == "SUCCEEDED", run.get("cause")
    summary = json.loads(run["output"])
    assert summary["routing_events_published"] == summary["counts"]["routed"] == 3

    events = drain(aws, aws.deployed.routing_capture_queue_url)
    routed = {k for k, r in results_of(aws, "publish").items() if r.outcome == "routed"}
    assert sorted(e["detail"]["key"] for e in events) == sorted(routed), "one event per routed object, no more"
    for event in events:
        assert event["detail-type"] == "Vehicle Classified" and event["source"] == "scones.vehicle-classifier"
        assert set(event["detail"]) == set(ROUTING_EVENT_FIELDS)
        assert event["detail"]["idempotency_key"] == f"{event['detail']['key']}#{event['detail']['etag']}"
        assert event["detail"]["label"] == "bicycle"
    event_ids = {r.routing_event_id for r in results_of(aws, "publish").values() if r.outcome == "routed"}
    assert None not in event_ids and len(event_ids) == 3
    # Non-vacuous IAM check: the batch machine's own calls (ItemReader, ResultWriter, quarantine,
    # Lambda tasks, PutEvents) were attributed to its role and checked, none denied (the fixture).
    by_machine = {(c.call.service, c.call.operation) for c in aws.iam.checked
                  if c.principal.kind == "state machine" and c.principal.name.endswith("batch-reclassification")}
    assert {("s3", "ListObjectsV2"), ("s3", "PutObject"), ("s3", "CopyObject"), ("lambda", "Invoke"),
            ("events", "PutEvents")} <= by_machine, by_machine
    by_summary = {(c.call.service, c.call.operation) for c in aws.iam.checked
                  if c.principal.kind == "function" and c.principal.name.startswith("lambdas.batch_summary.")}
    assert {("s3", "GetObject"), ("s3", "PutObject")} <= by_summary, by_summary


def test_failures_within_the_tolerated_percentage_succeed_and_are_listed(aws):
    """1 of 25 objects fails (4 %, the default tolerance is 5 %): the batch succeeds, the failure is kept."""
    for i in range(24):
        put(aws, f"incoming/2026/photo {i:02d}.png", png(CONFIDENT if i % 2 else UNSURE))
    put(aws, "incoming/2026/refused.png", png(REFUSED))
    run = run_batch(aws, "incoming/2026/", name="under")

    assert run["status"] == "SUCCEEDED", run.get("cause")
    summary = json.loads(run["output"])
    assert summary["counts"]["failed"] == 1 and summary["objects"] == 25
    assert summary["failed_percentage"] == 4.0 and summary["tolerated_failure_percentage"] == 5.0
    failed = results_of(aws, "under")["incoming/2026/refused.png"]
    assert failed.outcome == "failed"
    assert failed.reason.startswith("ModelRejectedInputError: ") and "HTTP 400" in failed.reason
    assert not any(e["type"] == "MapRunFailed" for e in run["history"])


def test_failures_over_the_tolerated_percentage_fail_the_batch_after_writing_every_result(aws):
    """2 of 10 objects fail (20 % > 5 %): the execution fails with BatchFailed; the results and the
    summary are written all the same, and say what failed."""
    for i in range(8):
        put(aws, f"backlog/city/ok {i}.png", png(CONFIDENT))
    put(aws, "backlog/city/refused 1.png", png(REFUSED))
    put(aws, "backlog/city/refused 2.png", png(REFUSED))
    run = run_batch(aws, "backlog/city/", name="over")

    assert run["status"] == "FAILED"
    assert run["error"] == "BatchFailed"
    assert run["cause"].startswith("States.ExceedToleratedFailureThreshold: 2 of 10 items failed (20.0 %)")
    types = [e["type"] for e in run["history"]]
    assert "MapRunFailed" in types and "MapStateFailed" in types
    entered = [e["stateEnteredEventDetails"]["name"] for e in run["history"] if "stateEnteredEventDetails" in e]
    assert entered[-3:] == ["Summarize batch", "Batch succeeded?", "Batch failed"]

    summary = summary_file(aws, "over")
    assert summary["status"] == "FAILED" and summary["error"] == "States.ExceedToleratedFailureThreshold"
    assert summary["counts"]["failed"] == 2 and summary["counts"]["routed"] == 8 and summary["failed_percentage"] == 20.0
    results = results_of(aws, "over")
    assert len(results) == 10
    assert {k for k, r in results.items() if r.outcome == "failed"} == {"backlog/city/refused 1.png",
                                                                        "backlog/city/refused 2.png"}


@pytest.mark.parametrize("request_body", [
    {"prefix": "quarantine/", "publish_routing_events": False},  # not a batch source prefix
    {"prefix": "backlog/x/"},  # publish_routing_events missing
    {"prefix": "backlog/x/", "publish_routing_events": "yes"},  # not a boolean
    {"publish_routing_events": True},
])
def test_a_bad_request_is_refused_before_anything_is_listed(aws, request_body):
    put(aws, "quarantine/evidence.png", png(CONFIDENT))
    run = run_batch(aws, "", request=request_body, name="bad")
    assert run["status"] == "FAILED" and run["error"] == "InvalidBatchRequest"
    assert "'incoming/' or 'backlog/'" in run["cause"]
    assert not any(e["type"].startswith("Map") for e in run["history"])
    assert aws.endpoint.calls == 0


def test_an_empty_prefix_is_a_batch_of_nothing(aws):
    run = run_batch(aws, "backlog/nobody-here/", name="empty")
    assert run["status"] == "SUCCEEDED", run.get("cause")
    summary = json.loads(run["output"])
    assert summary["objects"] == 0 and summary["status"] == "SUCCEEDED"
    assert results_of(aws, "empty") == {}
