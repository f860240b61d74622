"""scones_contracts.batch: the request check, ResultWriter records -> one result per object, the
streamed JSON-array reader, and the summary's counts."""
import json

import pytest

from scones_contracts.batch import (BatchRequestError, BatchSummary, ObjectResult, check_prefix, iter_json_array,
                                    object_result, result_files, results_folder, summary_key)

SUCCEEDED = {"ExecutionArn": "arn:x", "Input": json.dumps({"bucket": "b", "key": "backlog/a.png"}),
             "Output": json.dumps({"outcome": "routed", "key": "backlog/a.png", "label": "bicycle",
                                   "confidence": 0.99, "event_id": "e-1"}), "Status": "SUCCEEDED"}
FAILED = {"ExecutionArn": "arn:y", "Input": json.dumps({"bucket": "b", "key": "backlog/b.png"}), "Status": "FAILED",
          "Error": "ModelRejectedInputError",
          "Cause": json.dumps({"errorType": "ModelRejectedInputError", "errorMessage": "rejected with HTTP 400"})}


def chunks(data: bytes, size: int):
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1 << 20])
def test_a_json_array_is_read_whatever_the_chunking(size):
    records = [SUCCEEDED, FAILED, {"Key": "ünïcode 😀 key", "nested": {"a": [1, {"b": "]},{"}]}}]
    data = json.dumps(records, ensure_ascii=False, indent=1).encode()
    assert list(iter_json_array(chunks(data, size))) == records  # multi-byte characters split across chunks too


def test_an_empty_array_and_whitespace():
    assert list(iter_json_array([b" [ \n ] \n"])) == []


@pytest.mark.parametrize("data, problem", [
    (b'{"a": 1}', "expected a JSON array"),
    (b'[1, 2]', "expected a JSON object"),
    (b'[{"a": 1} {"b": 2}]', "expected ',' or ']'"),
    (b'[{"a": 1},', "not closed"),
    (b'[{"a": ', "ends inside an item"),
    (b'[{"a": 1}] x', "after the end"),
    (b'', "not closed"),
])
def test_anything_else_is_refused_by_name(data, problem):
    with pytest.raises(ValueError, match=problem):
        list(iter_json_array(chunks(data, 3)))


def test_records_become_one_result_per_object():
    assert object_result(SUCCEEDED, "SUCCEEDED") == ObjectResult(
        key="backlog/a.png", outcome="routed", label="bicycle", confidence=0.99, reason=None, routing_event_id="e-1")
    failed = object_result(FAILED, "FAILED")
    assert (failed.key, failed.outcome, failed.reason) == ("backlog/b.png", "failed",
                                                           "ModelRejectedInputError: rejected with HTTP 400")
    pending = object_result({"Input": json.dumps({"key": "backlog/c.png"})}, "PENDING")
    assert (pending.outcome, pending.key) == ("not_started", "backlog/c.png") and "map run failed" in pending.reason
    plain = object_result({**FAILED, "Cause": "States.Timeout after 300 s"}, "FAILED")
    assert plain.reason == "ModelRejectedInputError: States.Timeout after 300 s"
    assert object_result(SUCCEEDED, "SUCCEEDED").line() == {
        "key": "backlog/a.png", "outcome": "routed", "label": "bicycle", "confidence": 0.99, "reason": None}


def test_the_manifest_lists_succeeded_then_failed_then_pending():
    manifest = {"ResultFiles": {"FAILED": [{"Key": "f0", "Size": 1}], "PENDING": [],
                                "SUCCEEDED": [{"Key": "s0", "Size": 1}, {"Key": "s1", "Size": 2}]}}
    assert result_files(manifest) == [("SUCCEEDED", "s0"), ("SUCCEEDED", "s1"), ("FAILED", "f0")]


@pytest.mark.parametrize("prefix", ["incoming/", "incoming/2026/", "backlog/city-a/"])
def test_allowed_prefixes(prefix):
    assert check_prefix(prefix, ("incoming/", "backlog/")) == prefix


@pytest.mark.parametrize("prefix", ["", "quarantine/", "incoming", "models/x/", "backlogs/"])
def test_other_prefixes_are_refused_naming_the_allowed_ones(prefix):
    with pytest.raises(BatchRequestError, match="'incoming/', 'backlog/'"):
        check_prefix(prefix, ("incoming/", "backlog/"))


def test_summary_counts_and_failed_share_as_step_functions_judges_it():
    summary = BatchSummary(bucket="b", prefix="backlog/", results="s3://b/r/", tolerated_failure_percentage=5.0)
    for outcome in ["routed"] * 6 + ["review"] * 2 + ["failed"]:
        summary.add(ObjectResult(key=outcome, outcome=outcome, routing_event_id="e" if outcome == "routed" else None))
    summary.add(ObjectResult(key="r", outcome="routed"))  # routed without an event (none asked for)
    document = summary.document("FAILED", "States.ExceedToleratedFailureThreshold", "1 of 10")
    assert document["objects"] == 10 and document["failed_percentage"] == 10.0
    assert document["counts"] == {"routed": 7, "review": 2, "quarantined": 0, "skipped": 0, "failed": 1,
                                  "not_started": 0}
    assert document["routing_events_published"] == 6
    assert (document["status"], document["error"], document["summary"]) == (
        "FAILED", "States.ExceedToleratedFailureThreshold", True)


def test_results_live_in_one_folder_per_execution():
    assert results_folder("batch-results/", "batch-1") == "batch-results/batch-1/"
    assert summary_key("batch-results/", "batch-1") == "batch-results/batch-1/summary.json"
