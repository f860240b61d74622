"""Driving the synthesized workflow in moto: uploads, waiting for an outcome or for a reviewer, reading
what it published, and deciding reviews the way the review API does."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from scones.local.aws import LocalAws
from scones_contracts.review import is_audit_sample

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "images"
BICYCLE_PNG = (FIXTURES / "bike_s_000682.png").read_bytes()


def upload(aws: LocalAws, key: str, body: bytes, tagging: str = "") -> str:
    """Upload under incoming/ (with `tagging`, as a driver app may tag it), let the synthesized rule
    fire; the execution's ARN."""
    aws.s3.put_object(Bucket=aws.deployed.bucket, Key=key, Body=body, **({"Tagging": tagging} if tagging else {}))
    started = aws.dispatch_uploads()
    assert len(started) == 1, "the upload rule matched exactly once"
    execution_input, arn = started[0]
    assert execution_input["key"] == key and execution_input["bucket"] == aws.deployed.bucket
    return arn


def settle(aws: LocalAws, arn: str, timeout: float = 90) -> dict:
    """Wait until the execution ended or waits for a reviewer; its description, history and states entered."""
    deadline = time.monotonic() + timeout
    while True:
        description = aws.sfn.describe_execution(executionArn=arn)
        history = aws.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        # Waiting means the callback task is submitted, not merely that open_review wrote its item
        # (the item exists a moment before the interpreter records TaskSubmitted).
        waiting = aws.pending_review(arn) and history and history[-1]["type"] == "TaskSubmitted"
        if description["status"] != "RUNNING" or waiting:
            break
        assert time.monotonic() < deadline, f"execution neither ended nor waits for a reviewer after {timeout}s"
        time.sleep(0.05)
    description["history"] = history
    description["entered"] = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    return description


def finish(aws: LocalAws, arn: str, timeout: float = 90) -> dict:
    """Wait until the execution ended (not merely waiting)."""
    deadline = time.monotonic() + timeout
    while aws.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"execution still running after {timeout}s"
        time.sleep(0.05)
    return settle(aws, arn, timeout)


def upload_and_run(aws: LocalAws, key: str, body: bytes, timeout: float = 90, tagging: str = "") -> dict:
    return settle(aws, upload(aws, key, body, tagging), timeout)


def messages(aws: LocalAws, url: str) -> list[dict]:
    found = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in found]


def events(aws: LocalAws, detail_type: str | None = None) -> list[dict]:
    """Every event the workflow published on the routing bus so far (optionally of one detail-type)."""
    found = []
    while batch := messages(aws, aws.deployed.routing_capture_queue_url):
        found += batch
    return [e for e in found if detail_type is None or e["detail-type"] == detail_type]


def review_items(aws: LocalAws) -> list[dict]:
    """Every item of the review table, as plain values (task token included: the table's view)."""
    from lambdas.shared.review_store import from_item

    return [from_item(item) for item in aws.dynamodb.scan(TableName=aws.deployed.review_table)["Items"]]


def audited_key(body: bytes, rate: float, prefix: str = "incoming/audit-") -> str:
    """A key whose upload of `body` falls in the audit sample at `rate` (S3's ETag of a PUT is the MD5)."""
    etag = hashlib.md5(body).hexdigest()
    for n in range(100_000):
        key = f"{prefix}{n}.png"
        if is_audit_sample(f"{key}#{etag}", rate):
            return key
    raise AssertionError("no sampled key found")


def unaudited_key(body: bytes, rate: float, key: str) -> str:
    """`key`, or a variant of it, whose upload of `body` is NOT audited at `rate`."""
    etag = hashlib.md5(body).hexdigest()
    stem, dot, suffix = key.rpartition(".")
    for n in range(1000):
        candidate = key if n == 0 else f"{stem}-{n}{dot}{suffix}"
        if not is_audit_sample(f"{candidate}#{etag}", rate):
            return candidate
    raise AssertionError("every variant is audited")


def labelled_example(aws: LocalAws, review_id: str) -> tuple[str, bytes] | None:
    """(class name, image bytes) of the labelled example a decision wrote, read as training reads it."""
    from scones_contracts.classes import CLASS_NAMES

    bucket, prefix = aws.deployed.bucket, aws.assembly.config.bucket.labels_prefix
    try:
        row = aws.s3.get_object(Bucket=bucket, Key=f"{prefix}lists/{review_id}.lst")["Body"].read().decode()
    except aws.s3.exceptions.NoSuchKey:
        return None
    _index, label, path = row.rstrip("\n").split("\t")
    return CLASS_NAMES[int(label)], aws.s3.get_object(Bucket=bucket, Key=prefix + path)["Body"].read()
