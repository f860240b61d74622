"""The moto shims for Distributed Map and JSONPath (scones.local.moto_distributed_map, moto_shims), on
small hand-written definitions: each difference from AWS that a shim evens out, shown to be evened out."""
from __future__ import annotations

import json
import time

import boto3
import pytest

from scones.local.moto_distributed_map import definition_for_moto, exceeds_threshold
from scones.local.moto_shims import is_definite, local_cloud

BUCKET = "items"
ROLE = "arn:aws:iam::123456789012:role/local-states-role"


def distributed_map(item_states: dict, *, tolerance: dict | None = None, express: bool = True) -> dict:
    """A machine listing s3://items/<$.prefix>, one child per object, results under results/."""
    return {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "End": True, "Label": "Each", "MaxConcurrency": 8, **(tolerance or {}),
        "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2",
                       "Parameters": {"Bucket": BUCKET, "Prefix.$": "$.prefix"}},
        "ItemSelector": {"key.$": "$$.Map.Item.Value.Key", "item.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS" if express else "STANDARD"},
                          **item_states},
        "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                         "Parameters": {"Bucket": BUCKET, "Prefix": "results"}},
    }}}


ECHO = {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}
FAIL_BAD = {"StartAt": "Bad?", "States": {
    "Bad?": {"Type": "Choice", "Choices": [{"Variable": "$.key", "StringMatches": "*bad*", "Next": "Refuse"}],
             "Default": "Echo"},
    "Refuse": {"Type": "Fail", "Error": "BadObject", "Cause": "refused by the test"},
    "Echo": {"Type": "Pass", "End": True}}}


@pytest.fixture
def cloud():
    with local_cloud():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3, boto3.client("stepfunctions", region_name="us-east-1")


def run(sfn, definition: dict, prefix: str, timeout: float = 120) -> dict:
    arn = sfn.create_state_machine(name=f"m{time.monotonic_ns()}", definition=json.dumps(definition),
                                   roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"prefix": prefix}))["executionArn"]
    deadline = time.monotonic() + timeout
    while (description := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return description


def records(s3, manifest_key: str) -> dict[str, list[dict]]:
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
    assert set(manifest["ResultFiles"]) == {"SUCCEEDED", "FAILED", "PENDING"}
    return {status: [r for entry in files for r in json.loads(s3.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read())]
            for status, files in manifest["ResultFiles"].items()}


def latest_manifest(s3) -> str:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="results/").get("Contents", [])
            if o["Key"].endswith("manifest.json")]
    assert len(keys) == 1, keys
    return keys[0]


def test_every_page_is_listed_and_each_item_has_aws_shape(cloud):
    """A: more than one ListObjectsV2 page (1,000 keys), items as AWS hands them to a child."""
    s3, sfn = cloud
    for i in range(1003):
        s3.put_object(Bucket=BUCKET, Key=f"photos/{i:04d}.png", Body=b"x" * (i % 7))
    s3.put_object(Bucket=BUCKET, Key="elsewhere/not-listed.png", Body=b"x")
    description = run(sfn, distributed_map(ECHO), "photos/", timeout=300)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = json.loads(description["output"])
    assert output["ResultWriterDetails"]["Key"].startswith("results/") and output["MapRunArn"]

    found = records(s3, output["ResultWriterDetails"]["Key"])
    assert found["FAILED"] == found["PENDING"] == []
    children = [json.loads(r["Input"]) for r in found["SUCCEEDED"]]
    assert sorted(c["key"] for c in children) == [f"photos/{i:04d}.png" for i in range(1003)]
    item = children[5]["item"]
    assert set(item) == {"Etag", "Key", "LastModified", "Size", "StorageClass"}
    assert item["Etag"].startswith('"') and isinstance(item["LastModified"], int) and item["Size"] == 5
    record = found["SUCCEEDED"][0]
    assert {"ExecutionArn", "Name", "Input", "Output", "Status", "StartDate", "StopDate", "StateMachineArn"} <= set(record)
    assert json.loads(record["Output"]) == json.loads(record["Input"])  # the child's output (an echo)


def test_an_empty_prefix_is_a_map_run_of_zero_items(cloud):
    s3, sfn = cloud
    description = run(sfn, distributed_map(ECHO), "nothing-here/")
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert records(s3, latest_manifest(s3)) == {"SUCCEEDED": [], "FAILED": [], "PENDING": []}


@pytest.mark.parametrize("tolerance, bad, fails", [
    ({}, 1, True),  # neither declared: any failure fails the map run
    ({"ToleratedFailureCount": 1}, 1, False),
    ({"ToleratedFailureCount": 1}, 2, True),
    ({"ToleratedFailurePercentage": 25}, 2, False),  # 2 of 8 = 25 %: not above
    ({"ToleratedFailurePercentage": 20}, 2, True),
    ({"ToleratedFailurePercentage": 100}, 8, False),
])
def test_the_tolerated_failure_threshold_fails_the_map_run_after_writing_results(cloud, tolerance, bad, fails):
    """C: failures above the threshold fail the run with States.ExceedToleratedFailureThreshold; B: the
    failed children are kept with their error and cause."""
    s3, sfn = cloud
    for i in range(8):
        s3.put_object(Bucket=BUCKET, Key=f"t/{'bad' if i < bad else 'ok'}-{i}.png", Body=b"x")
    description = run(sfn, distributed_map(FAIL_BAD, tolerance=tolerance), "t/")
    if fails:
        assert description["status"] == "FAILED"
        assert description["error"] == "States.ExceedToleratedFailureThreshold"
        assert f"{bad} of 8 items failed" in description["cause"]
    else:
        assert description["status"] == "SUCCEEDED", description.get("cause")
    found = records(s3, latest_manifest(s3))
    assert len(found["SUCCEEDED"]) == 8 - bad and len(found["FAILED"]) == bad
    assert all(r["Error"] == "BadObject" and r["Cause"] == "refused by the test" and r["Status"] == "FAILED"
               for r in found["FAILED"])


@pytest.mark.parametrize("failed, total, count, percentage, declared, expected", [
    (0, 10, 0, 0.0, (False, False), False),
    (1, 10, 0, 0.0, (False, False), True),
    (1, 10, 0, 10.0, (False, True), False),
    (2, 10, 0, 10.0, (False, True), True),
    (2, 10, 2, 0.0, (True, False), False),
    (3, 10, 2, 50.0, (True, True), True),  # either limit
])
def test_the_threshold_rule(failed, total, count, percentage, declared, expected):
    assert exceeds_threshold(failed, total, count, percentage, *declared) is expected


def test_definitions_are_given_to_moto_as_its_grammar_takes_them():
    """D: EXPRESS children and a whole-number percentage (AWS accepts both) parse in moto."""
    definition = json.dumps(distributed_map(ECHO, tolerance={"ToleratedFailurePercentage": 5}))
    rewritten = json.loads(definition_for_moto(definition))
    each = rewritten["States"]["Each"]
    assert each["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == "STANDARD"
    assert each["ToleratedFailurePercentage"] == 5.0 and isinstance(each["ToleratedFailurePercentage"], float)
    plain = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    assert definition_for_moto(plain) == plain and definition_for_moto("not json") == "not json"


def test_express_children_run(cloud):
    s3, sfn = cloud
    s3.put_object(Bucket=BUCKET, Key="e/one.png", Body=b"x")
    assert run(sfn, distributed_map(ECHO, express=True), "e/")["status"] == "SUCCEEDED"


@pytest.mark.parametrize("path, definite", [
    ("$.Entries[0].EventId", True), ("$.a", True), ("$.a[0]", True), ("$$.Map.Item.Value.Key", True),
    ("$.a[*].b", False), ("$.a[?(@.x == 1)].y", False), ("$..a", False), ("$.a[1:2]", False), ("$.a.*", False),
])
def test_definite_paths(path, definite):
    assert is_definite(path) is definite


def test_a_definite_path_through_an_index_selects_one_node(cloud):
    """4: `$.Entries[0].EventId` is the id itself, as in AWS (moto alone gives a one-element list);
    a wildcard still gives a list."""
    _, sfn = cloud
    definition = {"StartAt": "Pick", "States": {"Pick": {"Type": "Pass", "End": True, "Parameters": {
        "one.$": "$.Entries[0].EventId", "all.$": "$.Entries[*].EventId",
        "formatted.$": "States.Format('id {}', $.Entries[1].EventId)"}}}}
    arn = sfn.create_state_machine(name="pick", definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(
        {"Entries": [{"EventId": "e-1"}, {"EventId": "e-2"}]}))["executionArn"]
    while (description := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        time.sleep(0.02)
    assert json.loads(description["output"]) == {"one": "e-1", "all": ["e-1", "e-2"], "formatted": "id e-2"}
