"""Start a batch-reclassification execution, wait for it, and read its summary and per-object results.

`BatchClient` talks to Step Functions and S3 through the boto3 clients it is given: the deployed
stack's in AWS (`scones batch --prefix`), moto's locally (`scones batch --images`), the same code
either way. It finds the state machine by its configured name, checks the request the way the
machine's first state will (a clear error before anything starts), and reads results with the
summary function's own reader (`lambdas.batch_summary.results`).
"""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from lambdas.batch_summary.results import find_manifest, read_results
from scones_contracts.batch import (BATCH_MACHINE_SUFFIX, MAX_EXECUTION_NAME, REQUEST_PREFIX, REQUEST_PUBLISH,
                                    BatchRequestError, ObjectResult, check_prefix, results_folder, summary_key)
from scones_contracts.s3_uri import parse_s3_uri
from stacks.config import SconesConfig

POLL_SECONDS = 1.0
PROGRESS_SECONDS = 30.0


@dataclass(frozen=True)
class BatchExecution:
    arn: str
    name: str
    bucket: str
    prefix: str


class BatchClient:
    def __init__(self, config: SconesConfig, sfn: Any, s3: Any) -> None:
        self.config = config
        self.sfn = sfn
        self.s3 = s3
        self._machine: tuple[str, str] | None = None

    # -- the deployed machine -------------------------------------------------------------------
    def machine(self) -> tuple[str, str]:
        """(ARN, the bucket its ItemReader lists) of the deployed batch state machine, found by name."""
        if self._machine is None:
            name = self.config.resource_name(BATCH_MACHINE_SUFFIX)
            arn = next((m["stateMachineArn"] for page in self.sfn.get_paginator("list_state_machines").paginate()
                        for m in page["stateMachines"] if m["name"] == name), None)
            if arn is None:
                raise BatchRequestError(f"no state machine named {name!r} in this account and region: deploy the "
                                        "workflow stack first (make deploy), or check AWS_REGION / -c project_name")
            definition = json.loads(self.sfn.describe_state_machine(stateMachineArn=arn)["definition"])
            self._machine = (arn, _item_reader_bucket(definition))
        return self._machine

    # -- one execution --------------------------------------------------------------------------
    def start(self, uri: str, publish_routing_events: bool = False, name: str | None = None) -> BatchExecution:
        """Start the batch over `s3://BUCKET/PREFIX` (checked first: the machine's bucket and source prefixes)."""
        try:
            bucket, prefix = parse_s3_uri(uri)
        except ValueError as err:
            raise BatchRequestError(f"--prefix: {err}; expected s3://BUCKET/PREFIX/") from None
        arn, machine_bucket = self.machine()
        if bucket != machine_bucket:
            raise BatchRequestError(f"bucket {bucket!r} is not the one the batch workflow reads ({machine_bucket!r})")
        check_prefix(prefix, self.config.bucket.batch_source_prefixes)
        name = name or execution_name()
        started = self.sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(
            {REQUEST_PREFIX: prefix, REQUEST_PUBLISH: bool(publish_routing_events)}))
        return BatchExecution(arn=started["executionArn"], name=name, bucket=bucket, prefix=prefix)

    def wait(self, execution: BatchExecution, progress: Callable[[str], None] | None = None,
             poll_seconds: float = POLL_SECONDS) -> dict[str, Any]:
        """Poll until the execution ends; every PROGRESS_SECONDS tell `progress` how many objects are done."""
        last_report = time.monotonic()
        while True:
            description = self.sfn.describe_execution(executionArn=execution.arn)
            if description["status"] != "RUNNING":
                return description
            if progress and time.monotonic() - last_report >= PROGRESS_SECONDS:
                last_report = time.monotonic()
                progress(self._progress(execution))
            time.sleep(poll_seconds)

    def summary(self, execution: BatchExecution, description: dict[str, Any]) -> dict[str, Any]:
        """The execution's summary: its output when it succeeded, else the summary.json the failure
        path wrote (or, if it never got there, the execution's error and cause)."""
        if description["status"] == "SUCCEEDED":
            return json.loads(description["output"])
        key = summary_key(self.config.bucket.batch_results_prefix, execution.name)
        try:
            document = json.loads(self.s3.get_object(Bucket=execution.bucket, Key=key)["Body"].read())
        except self.s3.exceptions.NoSuchKey:
            document = {"summary": True, "bucket": execution.bucket, "prefix": execution.prefix, "objects": None,
                        "counts": None, "results": None}
        document.update({"status": description["status"], "error": description.get("error"),
                         "cause": description.get("cause")})
        return document

    def results(self, execution: BatchExecution) -> Iterator[ObjectResult]:
        """One result per object the map run listed (nothing if it wrote no results)."""
        folder = results_folder(self.config.bucket.batch_results_prefix, execution.name)
        manifest = find_manifest(self.s3, execution.bucket, folder)
        if manifest:
            yield from read_results(self.s3, execution.bucket, manifest)

    def _progress(self, execution: BatchExecution) -> str:
        runs = self.sfn.list_map_runs(executionArn=execution.arn).get("mapRuns", [])
        if not runs:
            return f"{execution.name}: listing s3://{execution.bucket}/{execution.prefix}"
        counts = self.sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])["itemCounts"]
        return (f"{execution.name}: {counts.get('succeeded', 0)} succeeded, {counts.get('failed', 0)} failed, "
                f"{counts.get('running', 0)} running of {counts.get('total', 0)} objects")


def execution_name(now: datetime | None = None) -> str:
    """`batch-<UTC time>-<random>`: unique, sortable, and a valid results folder name."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return f"batch-{stamp}-{secrets.token_hex(4)}"[:MAX_EXECUTION_NAME]


def _item_reader_bucket(definition: dict[str, Any]) -> str:
    """The bucket the (first) Distributed Map lists, from the machine's definition."""
    for state in definition.get("States", {}).values():
        reader = state.get("ItemReader") if isinstance(state, dict) else None
        if reader:
            return reader["Parameters"]["Bucket"]
    raise BatchRequestError("the batch state machine's definition has no ItemReader: is it the batch workflow?")
