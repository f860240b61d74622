"""Where moto's Distributed Map differs from AWS Step Functions, and the patches that even it out.

Each difference was checked against the AWS Step Functions Developer Guide ("ItemReader (Map)",
"ResultWriter (Map)", "Tolerated failure threshold for Distributed Map state"); `moto_shims`
lists them with the other shims and `local_cloud()` applies them all.

A. ItemReader, `arn:aws:states:::s3:listObjectsV2`. AWS lists every object under the prefix (all
   pages) and hands each child execution exactly `{"Etag", "Key", "LastModified" (epoch seconds),
   "Size", "StorageClass"}`; a prefix with no objects gives a map run of zero items. moto makes
   one ListObjectsV2 call (at most 1,000 keys), passes boto3's dicts on (`ETag`, a datetime
   `LastModified`, extra fields) and fails with KeyError on an empty prefix.
   `list_objects_as_in_aws` pages through all keys and builds AWS's items.
B. Per-object results. AWS runs each item as a child execution and (with a ResultWriter) writes
   SUCCEEDED_n.json / FAILED_n.json / PENDING_n.json: JSON arrays of child-execution records
   (`ExecutionArn`, `Name`, `Input`/`Output` as JSON strings, `Status`, `StartDate`, `StopDate`,
   `Error`/`Cause` for failures, ...) and a manifest.json listing them with their sizes. moto
   runs items inline, keeps nothing of a failed item, and writes only an empty manifest.
   `record_child_executions` keeps one record per item (its input after ItemSelector, as a child
   execution receives it; its error and cause when it failed);
   `write_results_as_in_aws` writes the files and the manifest in AWS's layout (one file per
   status: AWS starts a new file every 5 GB).
C. Tolerated failure threshold. AWS fails the map run with `States.ExceedToleratedFailureThreshold`
   when the failed (or timed-out) items exceed `ToleratedFailurePercentage` of all items or
   `ToleratedFailureCount` (with neither given, any failure fails it), and still writes the
   results. moto never fails the map run for failed items. `enforce_tolerated_failures` judges
   the run once every item has ended, writes the results, then raises that error, which the
   state's Retry/Catch see as in AWS. AWS may stop starting items once the threshold is crossed
   (those land in PENDING); here every item runs, so PENDING stays empty.

D. Parsing. AWS accepts `"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}`
   (the guide's own examples use it) and a whole-number `ToleratedFailurePercentage` ("a value
   between zero and 100"); moto's ASL grammar accepts only STANDARD there and only a decimal
   percentage, and refuses the definition. `parse_definitions_as_aws` hands moto's parser the same
   definition with STANDARD and the percentage written as a decimal (5 -> 5.0); moto runs
   children inline whatever their type, so nothing else changes.

Not evened out (documented in the README): child executions share the parent's execution
(`$$.Execution.Id` inside an item is the parent's; AWS gives each child its own ARN, EXPRESS or
STANDARD, and the shim names records `<map run>:<uuid>`), and MaxConcurrency is honoured as a
thread count.
"""
from __future__ import annotations

import contextlib
import json
import threading
import uuid
from datetime import datetime, timezone
from typing import Any, Iterator
from unittest import mock

from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (FailureEvent,
                                                                                    FailureEventException)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_map import state_map
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval import (
    resource_eval_s3 as reader_s3)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import distributed_iteration_component
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker as worker_module)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
    resource_eval_s3 as writer_s3)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.tolerated_failure import (
    ToleratedFailureCountDecl, ToleratedFailurePercentageDecl)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

_RECORDS = "_scones_child_records"
_CHILD_INPUT = "_scones_child_input"
_MAP_STATE = "_scones_map_state"
_DECLARED = "_scones_tolerance_declared"
_lock = threading.Lock()


# -- A. ItemReader ------------------------------------------------------------------------------
def _list_objects_v2(env, resource_runtime_part, state_credentials) -> None:
    s3 = boto_client_for(region=resource_runtime_part.region, service="s3", state_credentials=state_credentials)
    parameters = env.stack.pop()
    items = []
    for page in s3.get_paginator("list_objects_v2").paginate(**parameters):
        for entry in page.get("Contents", []):
            items.append({"Etag": entry["ETag"], "Key": entry["Key"],
                          "LastModified": int(entry["LastModified"].timestamp()), "Size": entry["Size"],
                          "StorageClass": entry.get("StorageClass", "STANDARD")})
    env.stack.append(items)


@contextlib.contextmanager
def list_objects_as_in_aws() -> Iterator[None]:
    with mock.patch.object(reader_s3.ResourceEvalS3, "_handle_list_objects_v2", staticmethod(_list_objects_v2)):
        yield


# -- B. one record per child execution ----------------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _records(map_run_record) -> list[dict[str, Any]]:
    with _lock:
        if not hasattr(map_run_record, _RECORDS):
            setattr(map_run_record, _RECORDS, [])
        return getattr(map_run_record, _RECORDS)


@contextlib.contextmanager
def record_child_executions() -> Iterator[None]:
    original_input = worker_module.DistributedItemProcessorWorker._eval_input
    original = worker_module.DistributedItemProcessorWorker._eval_job

    def eval_input(self, env_frame) -> None:
        original_input(self, env_frame)
        setattr(env_frame, _CHILD_INPUT, env_frame.states.get_input())  # the item after ItemSelector

    def eval_job(self, env, job) -> None:
        started = _now()
        original(self, env, job)
        state = env.program_state()
        name = str(uuid.uuid4())
        record: dict[str, Any] = {
            "ExecutionArn": f"{self._map_run_record.map_run_arn.replace(':mapRun:', ':execution:')}:{name}",
            "Input": json.dumps(getattr(env, _CHILD_INPUT, job.job_input), separators=(",", ":"), default=str),
            "InputDetails": {"Included": True}, "Name": name, "RedriveCount": 0, "StartDate": started,
            "StateMachineArn": self._map_run_record.map_state_machine_arn, "StopDate": _now(),
        }
        if job.job_output is not None and not isinstance(state, (ProgramError, ProgramStopped)):
            record.update(Status="SUCCEEDED", Output=json.dumps(job.job_output, separators=(",", ":"), default=str),
                          OutputDetails={"Included": True}, RedriveStatus="NOT_REDRIVABLE",
                          RedriveStatusReason="Execution is SUCCEEDED and cannot be redriven")
        else:
            error = (state.error or {}) if isinstance(state, ProgramError) else {}
            record.update(Status="ABORTED" if isinstance(state, ProgramStopped) else "FAILED",
                          Error=error.get("error", "States.Runtime"), Cause=error.get("cause", ""),
                          OutputDetails={"Included": True}, RedriveStatus="REDRIVABLE_BY_MAP_RUN")
        record["_index"] = job.job_index
        _records(self._map_run_record).append(record)

    with mock.patch.object(worker_module.DistributedItemProcessorWorker, "_eval_input", eval_input), \
            mock.patch.object(worker_module.DistributedItemProcessorWorker, "_eval_job", eval_job):
        yield


def _result_files(map_run_record) -> dict[str, list[dict[str, Any]]]:
    """Records by result file status, in item order (AWS: FAILED holds failed, timed-out and aborted)."""
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for record in sorted(_records(map_run_record), key=lambda r: r["_index"]):
        public = {k: v for k, v in sorted(record.items()) if not k.startswith("_")}
        files["SUCCEEDED" if record["Status"] == "SUCCEEDED" else "FAILED"].append(public)
    return files


def _put_object(env, resource_runtime_part, state_credentials) -> None:
    parameters = env.stack.pop()
    env.stack.pop()  # the map's outputs: AWS writes the child-execution records instead
    s3 = boto_client_for(service="s3", region=resource_runtime_part.region, state_credentials=state_credentials)
    map_run_record = env.map_run_record_pool_manager.get_all().pop()
    map_run_id = map_run_record.map_run_arn.split(":")[-1]
    prefix = parameters.get("Prefix", "")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    folder = f"{prefix}{map_run_id}/"
    listed: dict[str, list[dict[str, Any]]] = {}
    for status, records in _result_files(map_run_record).items():
        listed[status] = []
        if records:
            key = f"{folder}{status}_0.json"
            body = json.dumps(records, indent=1).encode()
            s3.put_object(Bucket=parameters["Bucket"], Key=key, Body=body)
            listed[status].append({"Key": key, "Size": len(body)})
    manifest_key = folder + "manifest.json"
    s3.put_object(Bucket=parameters["Bucket"], Key=manifest_key, Body=json.dumps({
        "DestinationBucket": parameters["Bucket"], "MapRunArn": map_run_record.map_run_arn,
        "ResultFiles": listed}, indent=1).encode())
    env.stack.append({"MapRunArn": map_run_record.map_run_arn,
                      "ResultWriterDetails": {"Bucket": parameters["Bucket"], "Key": manifest_key}})


@contextlib.contextmanager
def write_results_as_in_aws() -> Iterator[None]:
    with mock.patch.object(writer_s3.ResourceEvalS3, "_handle_put_object", staticmethod(_put_object)):
        yield


# -- C. tolerated failure threshold -------------------------------------------------------------
def exceeds_threshold(failed: int, total: int, count: int, percentage: float,
                      count_declared: bool, percentage_declared: bool) -> bool:
    """AWS's rule: fail when failures exceed a declared count or percentage; with neither declared,
    the percentage defaults to 0 (any failure fails the map run)."""
    if not failed:
        return False
    if not count_declared and not percentage_declared:
        return True
    over_count = count_declared and failed > count
    over_percentage = percentage_declared and 100.0 * failed / total > percentage
    return over_count or over_percentage


@contextlib.contextmanager
def enforce_tolerated_failures() -> Iterator[None]:
    original_props = state_map.StateMap.from_state_props
    original_execution = state_map.StateMap._eval_execution
    original_map_run = distributed_iteration_component.DistributedIterationComponent._map_run

    def from_state_props(self, state_props) -> None:
        setattr(self, _DECLARED, (state_props.get(ToleratedFailureCountDecl) is not None,
                                  state_props.get(ToleratedFailurePercentageDecl) is not None))
        original_props(self, state_props)

    def eval_execution(self, env) -> None:
        setattr(env, _MAP_STATE, self)  # the map run below needs this state's ResultWriter
        original_execution(self, env)

    def map_run(self, env, eval_input) -> None:
        original_map_run(self, env, eval_input)
        state = getattr(env, _MAP_STATE, None)
        record = eval_input.map_run_record
        records = _records(record)
        failed = sum(r["Status"] != "SUCCEEDED" for r in records)
        declared = getattr(state, _DECLARED, (False, False))
        if not exceeds_threshold(failed, len(records), eval_input.tolerated_failure_count,
                                 eval_input.tolerated_failure_percentage, *declared):
            return
        if state is not None and state.result_writer is not None:  # AWS writes the results of a failed run too
            state.result_writer.eval(env)
            env.stack.pop()
        else:
            env.stack.pop()
        limits = [f"{eval_input.tolerated_failure_percentage:g} % of the items" if declared[1] else "",
                  f"{eval_input.tolerated_failure_count} items" if declared[0] else ""]
        cause = (f"{failed} of {len(records)} items failed ({100.0 * failed / len(records):.1f} %), more than the "
                 f"tolerated {' or '.join(filter(None, limits)) or 'none'}")
        error = StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold)
        raise FailureEventException(FailureEvent(
            env=env, error_name=error, event_type=HistoryEventType.MapRunFailed,
            event_details=EventDetails(mapRunFailedEventDetails=MapRunFailedEventDetails(
                error=error.error_name, cause=cause))))

    with mock.patch.object(state_map.StateMap, "from_state_props", from_state_props), \
            mock.patch.object(state_map.StateMap, "_eval_execution", eval_execution), \
            mock.patch.object(distributed_iteration_component.DistributedIterationComponent, "_map_run", map_run):
        yield


# -- D. parsing ----------------------------------------------------------------------------------
def definition_for_moto(definition: str) -> str:
    """The definition as moto's grammar takes it: STANDARD children, a decimal tolerated percentage."""
    try:
        document = json.loads(definition)
    except (TypeError, ValueError):
        return definition  # not JSON: let moto's parser report it
    if not _rewrite_states(document):
        return definition
    return json.dumps(document)


def _rewrite_states(node: Any) -> bool:
    changed = False
    if isinstance(node, dict):
        if node.get("Type") == "Map":
            config = (node.get("ItemProcessor") or {}).get("ProcessorConfig") or {}
            if config.get("ExecutionType") == "EXPRESS":
                config["ExecutionType"] = "STANDARD"
                changed = True
            if isinstance(node.get("ToleratedFailurePercentage"), int):
                node["ToleratedFailurePercentage"] = float(node["ToleratedFailurePercentage"])
                changed = True
        for value in node.values():
            changed = _rewrite_states(value) or changed
    elif isinstance(node, list):
        for value in node:
            changed = _rewrite_states(value) or changed
    return changed


@contextlib.contextmanager
def parse_definitions_as_aws() -> Iterator[None]:
    original = AmazonStateLanguageParser.parse

    def parse(definition: str, *args, **kwargs):
        return original(definition_for_moto(definition), *args, **kwargs)

    with mock.patch.object(AmazonStateLanguageParser, "parse", staticmethod(parse)):
        yield


@contextlib.contextmanager
def distributed_map_as_in_aws() -> Iterator[None]:
    """All of A to D."""
    with parse_definitions_as_aws(), list_objects_as_in_aws(), record_child_executions(), \
            write_results_as_in_aws(), enforce_tolerated_failures():
        yield
