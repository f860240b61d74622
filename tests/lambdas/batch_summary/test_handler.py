"""batch_summary: the real handler against moto S3, over result files in the ResultWriter's layout,
with IAM enforced against its synthesized role (tests/lambdas/conftest.py)."""
from __future__ import annotations

import json

import pytest
from moto import mock_aws

from lambdas.batch_summary import handler as summary_handler
from lambdas.batch_summary import results as results_module
from lambdas.batch_summary.results import ResultsError
from lambdas.shared import aws_clients
from tests.lambdas.lambda_helpers import DATA_BUCKET, emf_metric_names

BUCKET = DATA_BUCKET
FOLDER = "batch-results/batch-1/"


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("BATCH_RESULTS_PREFIX", "batch-results/")
    with mock_aws():
        client = aws_clients.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def record(key: str, outcome: str | None, **output) -> dict:
    item = json.dumps({"bucket": BUCKET, "key": key, "publish_routing_events": False})
    if outcome is None:
        return {"Input": item, "Status": "FAILED", "Error": "EndpointUnavailableError",
                "Cause": json.dumps({"errorType": "EndpointUnavailableError", "errorMessage": "endpoint 503"})}
    return {"Input": item, "Status": "SUCCEEDED", "Output": json.dumps({"outcome": outcome, "key": key, **output})}


def write_results(s3, files: dict[str, list[dict]], run_id: str = "run-1") -> str:
    listed = {"SUCCEEDED": [], "FAILED": [], "PENDING": []}
    for status, records in files.items():
        key = f"{FOLDER}{run_id}/{status}_0.json"
        body = json.dumps(records, indent=1).encode()
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        listed[status].append({"Key": key, "Size": len(body)})
    manifest = f"{FOLDER}{run_id}/manifest.json"
    s3.put_object(Bucket=BUCKET, Key=manifest, Body=json.dumps({"DestinationBucket": BUCKET, "ResultFiles": listed}))
    return manifest


def event(status="SUCCEEDED", manifest=None, **run) -> dict:
    run = {"status": status, "prefix": "backlog/city/", "publish_routing_events": False, **run}
    if manifest:
        run["map_run"] = {"MapRunArn": "arn:aws:states:::mapRun:x", "ResultWriterDetails": {"Bucket": BUCKET, "Key": manifest}}
    return {"bucket": BUCKET, "results_folder": FOLDER, "tolerated_failure_percentage": 5,
            "execution_id": "arn:aws:states:us-east-1:123456789012:execution:scones-batch-reclassification:batch-1",
            "run": run}


def test_counts_every_record_writes_summary_json_and_publishes_metrics(s3, lambda_context, emf, monkeypatch):
    monkeypatch.setattr(results_module, "CHUNK_BYTES", 97)  # records cross chunk boundaries
    succeeded = [record(f"backlog/city/ünï {i}.png", "routed", label="bicycle", confidence=0.99, event_id=f"e{i}")
                 for i in range(30)] + [record("backlog/city/u.png", "review", label="motorcycle", confidence=0.6),
                                        record("backlog/city/q.png", "quarantined", reason="not an image")]
    manifest = write_results(s3, {"SUCCEEDED": succeeded, "FAILED": [record("backlog/city/f.png", None)]})
    document = summary_handler.handler(event(manifest=manifest), lambda_context)

    assert document["counts"] == {"routed": 30, "review": 1, "quarantined": 1, "skipped": 0, "failed": 1,
                                  "not_started": 0}
    assert (document["objects"], document["routing_events_published"], document["status"]) == (33, 30, "SUCCEEDED")
    assert document["failed_percentage"] == round(100 / 33, 2)
    assert document["results"] == f"s3://{BUCKET}/{manifest}"
    written = json.loads(s3.get_object(Bucket=BUCKET, Key=FOLDER + "summary.json")["Body"].read())
    assert written == document
    names = set().union(*(emf_metric_names(r) for r in emf()))
    assert {"BatchObjects", "BatchObjectsFailed"} <= names


def test_a_failed_map_run_is_summarized_from_its_folder_with_the_error(s3, lambda_context):
    """A map run that failed reports no manifest: the newest one under the execution's folder is used."""
    write_results(s3, {"SUCCEEDED": [record("backlog/city/a.png", "routed")]}, run_id="old-run")
    manifest = write_results(s3, {"FAILED": [record(f"backlog/city/{i}.png", None) for i in range(3)]}, run_id="new-run")
    document = summary_handler.handler(event("FAILED", error="States.ExceedToleratedFailureThreshold",
                                             cause="3 of 3 items failed"), lambda_context)
    assert document["results"] == f"s3://{BUCKET}/{manifest}"
    assert document["counts"]["failed"] == 3 and document["status"] == "FAILED"
    assert (document["error"], document["cause"]) == ("States.ExceedToleratedFailureThreshold", "3 of 3 items failed")


def test_a_map_run_that_wrote_nothing_is_a_summary_of_nothing(s3, lambda_context):
    document = summary_handler.handler(event("FAILED", error="States.ItemReaderFailed", cause="AccessDenied"),
                                       lambda_context)
    assert document["objects"] == 0 and document["error"] == "States.ItemReaderFailed"
    assert document["results"] == f"s3://{BUCKET}/{FOLDER}"


@pytest.mark.parametrize("bad", [
    {"results_folder": "quarantine/x/"},  # outside the results prefix
    {"results_folder": "batch-results/x"},  # not a folder
    {"run": {"prefix": "backlog/"}},  # no status
    {"tolerated_failure_percentage": "lots"},
])
def test_a_malformed_request_is_refused_by_name(s3, lambda_context, bad):
    with pytest.raises(summary_handler.InvalidSummaryRequestError):
        summary_handler.handler({**event(), **bad}, lambda_context)


def test_a_missing_or_foreign_result_file_is_an_error_not_a_short_count(s3, lambda_context):
    manifest = write_results(s3, {"SUCCEEDED": [record("backlog/city/a.png", "routed")]})
    s3.delete_object(Bucket=BUCKET, Key=f"{FOLDER}run-1/SUCCEEDED_0.json")
    with pytest.raises(ResultsError, match="does not exist"):
        summary_handler.handler(event(manifest=manifest), lambda_context)
    with pytest.raises(ResultsError, match="outside this execution's results folder"):
        summary_handler.handler(event(manifest="batch-results/other/run/manifest.json"), lambda_context)
    s3.put_object(Bucket=BUCKET, Key=f"{FOLDER}run-1/SUCCEEDED_0.json", Body=b"not json")
    with pytest.raises(ResultsError, match="not a ResultWriter file"):
        summary_handler.handler(event(manifest=manifest), lambda_context)


def test_its_role_reads_nothing_but_the_results(s3, lambda_context, iam):
    """Negative control: a manifest that lists an object outside the results prefix is refused by
    the function's own role, not read."""
    s3.put_object(Bucket=BUCKET, Key="incoming/driver/photo.json", Body=b"[]")
    manifest = f"{FOLDER}run-1/manifest.json"
    s3.put_object(Bucket=BUCKET, Key=manifest, Body=json.dumps({"ResultFiles": {
        "SUCCEEDED": [{"Key": "incoming/driver/photo.json", "Size": 2}], "FAILED": [], "PENDING": []}}))
    with pytest.raises(Exception, match="AccessDenied"):
        summary_handler.handler(event(manifest=manifest), lambda_context)
    denied, = iam.take_denials()
    assert [(r.action, r.resource.rsplit(":::", 1)[1]) for r in denied.denied] == \
        [("s3:GetObject", f"{BUCKET}/incoming/driver/photo.json")]
