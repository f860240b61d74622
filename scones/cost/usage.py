"""What one uploaded image uses, by meter, from the definition's paths and the local measurement.

Contract
    `image_usage(machine, inventory, measurements, mix, assumptions)` returns the expected usage of
    one image (`Counter` of meter -> quantity) over the outcome mix, plus a per-outcome table
    (transitions, Lambda invocations) for the report. Paths are grouped by `priced_outcome`: a path
    through a `.waitForTaskToken` task that takes no Catch is "review" (an image a person decided,
    whatever they decided); every other path keeps the outcome it ends in. Each outcome is priced by
    its costliest path (`definition.costliest`) among those that take no Catch (review: a reject,
    which also quarantines); for "failed" the worst case (every retry spent). Routed images are the
    exception: the audit sample of them (paths that open an item with reason `audit`) is weighted by
    the decision function's AUDIT_SAMPLE_RATE read from the template, the rest priced by the
    costliest path without the audit item (`audit_sample_rate`; without that variable every routed
    image is priced with the audit item, an upper bound). Meters:

        sfn.executions:<machine>   sfn.transitions:<machine>   sfn.duration_ms:<machine>
        lambda.invocations:<fn>    s3.put   s3.get   sqs.requests   events.custom
        endpoint.invocations       ddb.write   ddb.read   sns.publish
        ddb.write:<table>          ddb.read:<table>   (the part of ddb.* a Task makes on a named table)
        logs.bytes:<group>         logs.events:<group>

    Calls a Task makes are read from its `Resource` (Lambda, `aws-sdk:s3:*`, `sqs:sendMessage`,
    `events:putEvents`, `dynamodb:*`, `sns:publish`, `states:startExecution` of another machine);
    calls a Lambda makes inside its handler (S3 reads, InvokeEndpoint...) come from the measurement.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from scones_contracts.review import AUDIT_SAMPLE_RATE_VARIABLE, REASON_AUDIT, validate_rate

from .definition import Path, costliest, token_target, walk
from .inventory import HOURS_PER_MONTH, Inventory, StateMachine
from .measurements import Measurements

DAYS_PER_MONTH = HOURS_PER_MONTH / 24
OUTCOMES = ("routed", "review", "quarantined", "failed")
_S3_READS = ("get", "head", "select")


@dataclass(frozen=True)
class Assumptions:
    """Inputs neither declared in the templates nor measured; every one is printed with the estimate."""

    upload_bytes: int = 2_000_000  # a phone photo as a driver app uploads it
    quarantined_share: float = 0.01  # of uploads: not a valid image
    failed_share: float = 0.001  # of uploads: a processing failure after retries
    busy_hours_per_day: float = 12.0  # uploads arrive in these hours; the endpoint scales out for them
    months_in_operation: int = 12  # uploads are kept: storage is priced in this month of operation
    access_log_record_bytes: int = 350  # one S3 server access log record
    lambda_platform_log_bytes: int = 370  # START, END and REPORT lines of one invocation (3 events)
    log_event_overhead_bytes: int = 26  # CloudWatch Logs meters 26 bytes per event on top of the message
    history_event_bytes_without_data: int = 250  # a logged history event when IncludeExecutionData is off
    capture_objects_per_instance_minute: float = 1.0  # data capture files written per busy instance-minute
    quarantine_reason_bytes: int = 1024  # the reason.json written next to a quarantined copy
    xray_reservoir_per_second: float = 1.0  # X-Ray default sampling rule: 1 request/s ...
    xray_fixed_rate: float = 0.05  # ... plus 5 % of the rest
    express_memory_mb: int = 64  # Express bills memory in 64-MB chunks; this state is a few KB
    serverless_memory_mb: int = 2048  # the Serverless Inference alternative's memory size
    review_api_requests_per_item: float = 3.0  # with a review API: list, open, decide
    review_table_writes_per_item: float = 2.0  # with a review table: created, decided
    review_table_reads_per_item: float = 3.0
    review_item_bytes: int = 1024
    # An item of a table that expires its items (the delivery claims): its size, and how long it is
    # stored: its TTL (24 h by default) plus DynamoDB's deletion delay ("typically within a few days").
    expiring_item_bytes: int = 300
    expiring_item_days: float = 3.0
    reviewers: int = 10  # monthly active users of a Cognito user pool

    def __post_init__(self) -> None:
        if not 0 <= self.quarantined_share + self.failed_share <= 1:
            raise ValueError("quarantined_share + failed_share must be within 0..1")
        if not 0 < self.busy_hours_per_day <= 24:
            raise ValueError("busy_hours_per_day must be within (0, 24]")


def takes_catch(path: Path) -> bool:
    """Whether the path leaves a state through its Catch (a failure handled, not a clean run)."""
    return any(step.failed for step in path.steps)


def priced_outcome(path: Path) -> str:
    """The outcome a path is priced as (see the module docstring)."""
    if path.outcome != "failed" and not takes_catch(path) and any((step.resource or "").endswith(".waitForTaskToken")
                                                  for step in path.steps):
        return "review"
    return path.outcome


def paths_by_priced_outcome(paths: list[Path]) -> dict[str, list[Path]]:
    grouped: dict[str, list[Path]] = {}
    for path in paths:
        grouped.setdefault(priced_outcome(path), []).append(path)
    return grouped


def pricing_path(outcome: str, paths: list[Path]) -> Path:
    """The path `outcome` is priced by: for "failed" the costliest of all (every retry spent), for the
    others the costliest that takes no Catch (when there is one)."""
    clean = [p for p in paths if not takes_catch(p)]
    return costliest(paths if outcome == "failed" else (clean or paths))


def opens_audit_item(path: Path) -> bool:
    """Whether the path invokes a function with a request of reason `audit` (the payload as the
    task's Parameters, or inside the Lambda invoke integration's `Payload`)."""
    for step in path.steps:
        payload = step.parameters.get("Payload", step.parameters)
        request = payload.get("request") if isinstance(payload, dict) else None
        if isinstance(request, dict) and request.get("reason") == REASON_AUDIT:
            return True
    return False


def audit_sample_rate(machine: StateMachine, paths: list[Path], inventory: Inventory) -> float | None:
    """The AUDIT_SAMPLE_RATE of the functions `machine` invokes on `paths` (None: none sets it).
    Raises ValueError when they disagree or the value is not a share in [0, 1]."""
    invoked = {_lambda_target(step, step.resource) for path in paths for step in path.steps
               if step.type == "Task" and step.resource and _action(step.resource)[0] == "lambda"}
    values = {inventory.functions[fn].environment[AUDIT_SAMPLE_RATE_VARIABLE] for fn in invoked
              if fn in inventory.functions and AUDIT_SAMPLE_RATE_VARIABLE in inventory.functions[fn].environment}
    if len(values) > 1:
        raise ValueError(f"the functions of {machine.logical_id} set different {AUDIT_SAMPLE_RATE_VARIABLE}: "
                         f"{sorted(values)}")
    return validate_rate(values.pop(), AUDIT_SAMPLE_RATE_VARIABLE) if values else None


def weighted_paths(outcome: str, paths: list[Path], audit_rate: float | None) -> list[tuple[float, Path]]:
    """(weight, path) pairs an execution of `outcome` is priced by: the pricing path, or for routed
    images with a known audit rate the costliest clean path without the audit item (1 - rate) and
    the costliest with it (rate)."""
    if outcome == "routed" and audit_rate is not None:
        clean = [p for p in paths if not takes_catch(p)]
        audited = [p for p in clean if opens_audit_item(p)]
        plain = [p for p in clean if p not in audited]
        if audited and plain:
            return [(1.0 - audit_rate, costliest(plain)), (audit_rate, costliest(audited))]
    return [(1.0, pricing_path(outcome, paths))]


def outcome_mix(routed_share_of_classified: float, assumptions: Assumptions) -> dict[str, float]:
    """Share of uploads per outcome: quarantined and failed assumed, routed/review measured."""
    classified = 1.0 - assumptions.quarantined_share - assumptions.failed_share
    return {"routed": classified * routed_share_of_classified,
            "review": classified * (1.0 - routed_share_of_classified),
            "quarantined": assumptions.quarantined_share, "failed": assumptions.failed_share}


def _action(resource: str) -> tuple[str, str]:
    """`arn:...:states:::aws-sdk:s3:copyObject.sync` -> ("s3", "copyObject"); a Lambda ARN -> ("lambda", "")."""
    if ":states:::" not in resource:
        return "lambda", ""
    service_action = resource.split(":states:::", 1)[1].split(".")[0]
    parts = service_action.split(":")
    if parts[0] == "aws-sdk":
        parts = parts[1:]
    return parts[0], parts[1] if len(parts) > 1 else ""


def _lambda_target(step, resource: str) -> str | None:
    if ":states:::" not in resource:
        return token_target(resource) or resource
    name = step.parameters.get("FunctionName") or step.parameters.get("FunctionName.$")
    return token_target(name) if isinstance(name, str) else None


def _handler_calls(usage: Counter, calls: dict[str, float], times: float) -> None:
    """Calls a Lambda handler makes (measured per invocation), `times` invocations."""
    for call, per_invocation in calls.items():
        service, _, operation = call.partition(":")
        n = per_invocation * times
        if service == "s3":
            usage["s3.get" if operation.lower().startswith(_S3_READS) else "s3.put"] += n
        elif service == "sagemaker-runtime":
            usage["endpoint.invocations"] += n
        elif service == "dynamodb":
            usage["ddb.read" if operation.startswith(("Get", "Query", "Scan", "BatchGet")) else "ddb.write"] += n
        elif service == "sqs":
            usage["sqs.requests"] += n
        elif service == "events" and operation == "PutEvents":
            usage["events.custom"] += n


def _lambda_invocation(usage: Counter, fn_id: str, times: float, inventory: Inventory,
                       measurements: Measurements, a: Assumptions) -> None:
    usage[f"lambda.invocations:{fn_id}"] += times
    function = inventory.functions.get(fn_id)
    if function is None:
        return
    _handler_calls(usage, measurements.aws_calls(function.handler), times)
    logged, lines = measurements.log_bytes(function.handler)
    group = function.log_group or f"/aws/lambda/{fn_id}"
    events = lines + 3  # the handler's lines + START/END/REPORT
    usage[f"logs.bytes:{group}"] += times * (logged + a.lambda_platform_log_bytes + events * a.log_event_overhead_bytes)
    usage[f"logs.events:{group}"] += times * events


def path_usage(path: Path, inventory: Inventory, measurements: Measurements, a: Assumptions,
               depth: int = 0) -> Counter:
    """Usage of one execution that takes `path` (its Task calls, not the execution itself)."""
    usage: Counter = Counter()
    for step in path.steps:
        for branch in step.branches:
            usage.update(path_usage(branch, inventory, measurements, a, depth))
        if step.item_paths and not step.distributed:  # an inline Map: one item (the count is data)
            usage.update(path_usage(costliest(list(step.item_paths)), inventory, measurements, a, depth))
        if step.type != "Task" or not step.resource:
            continue
        service, action = _action(step.resource)
        n = step.attempts
        if service == "lambda":
            target = _lambda_target(step, step.resource)
            if target:
                _lambda_invocation(usage, target, n, inventory, measurements, a)
        elif service == "s3":
            usage["s3.get" if action.lower().startswith(_S3_READS) else "s3.put"] += n
        elif service == "sqs":
            usage["sqs.requests"] += n
        elif service == "events":
            usage["events.custom"] += n * max(1, len(step.parameters.get("Entries", [])))
        elif service == "dynamodb":
            meter = "ddb.read" if action.lower().startswith(("get", "query", "scan", "batchget")) else "ddb.write"
            usage[meter] += n
            table = token_target(str(step.parameters.get("TableName", "")))
            if table:
                usage[f"{meter}:{table}"] += n
        elif service == "sns":
            usage["sns.publish"] += n
        elif service == "states" and action == "startExecution" and depth < 3:
            child = inventory.state_machines.get(token_target(str(step.parameters.get("StateMachineArn", ""))) or "")
            if child is not None:
                usage.update(execution_usage(child, None, inventory, measurements, a, depth + 1))
    return usage


def _history_bytes(machine: StateMachine, outcome: str | None, path: Path, measurements: Measurements,
                   a: Assumptions) -> tuple[float, float]:
    """(bytes, events) the machine logs for one execution of `outcome` at its log level."""
    if machine.log_level == "OFF" or (machine.log_level in ("ERROR", "FATAL") and outcome != "failed"):
        return 0.0, 0.0
    measured = measurements.execution(outcome or "") or measurements.any_execution()
    events = measured["history_events_mean"]
    if machine.include_execution_data:
        return measured["history_bytes_mean"] + events * a.log_event_overhead_bytes, events
    return events * (a.history_event_bytes_without_data + a.log_event_overhead_bytes), events


def execution_usage(machine: StateMachine, outcome: str | None, inventory: Inventory,
                    measurements: Measurements, a: Assumptions, depth: int = 0, path: Path | None = None) -> Counter:
    """One execution of `machine` ending in `outcome` that takes `path` (default: the outcome's
    pricing path; None outcome: its costliest path of all)."""
    if path is None:
        all_paths = walk(machine.definition)
        grouped = paths_by_priced_outcome(all_paths)
        path = pricing_path(outcome, grouped[outcome]) if outcome in grouped else costliest(all_paths)
    usage = path_usage(path, inventory, measurements, a, depth)
    usage[f"sfn.executions:{machine.logical_id}"] += 1
    usage[f"sfn.transitions:{machine.logical_id}"] += path.transitions
    measured = measurements.execution(outcome or "")
    if measured:
        usage[f"sfn.duration_ms:{machine.logical_id}"] += measured["duration_ms_mean"]
    logged, events = _history_bytes(machine, outcome, path, measurements, a)
    group = machine.log_group or f"/aws/vendedlogs/states/{machine.logical_id}"
    usage[f"logs.bytes:{group}"] += logged
    usage[f"logs.events:{group}"] += events
    return usage


def image_usage(machine: StateMachine, inventory: Inventory, measurements: Measurements,
                mix: dict[str, float], a: Assumptions) -> tuple[Counter, dict[str, dict[str, Any]]]:
    """Expected usage of one uploaded image, and per outcome: share, transitions, path."""
    paths = walk(machine.definition)
    grouped = paths_by_priced_outcome(paths)
    missing = [o for o, share in mix.items() if share > 0 and o not in grouped]
    if missing:
        raise ValueError(f"state machine {machine.logical_id} has no path ending in {missing}; "
                         f"its outcomes are {sorted(grouped)}")
    audit_rate = audit_sample_rate(machine, paths, inventory)
    expected: Counter = Counter()
    table: dict[str, dict[str, Any]] = {}
    for outcome, share in mix.items():
        if outcome not in grouped:  # a share of 0 for an outcome this machine cannot reach
            continue
        weighted = weighted_paths(outcome, grouped[outcome], audit_rate)
        one: Counter = Counter()
        for weight, path in weighted:
            for meter, quantity in execution_usage(machine, outcome, inventory, measurements, a, path=path).items():
                one[meter] += weight * quantity
        for meter, quantity in one.items():
            expected[meter] += share * quantity
        chosen = weighted[0][1]
        table[outcome] = {
            "share": share, "paths": len(grouped[outcome]), "transitions": chosen.transitions,
            "transitions_range": [min(p.min_transitions for p in grouped[outcome]),
                                  max(p.transitions for p in grouped[outcome])],
            "states": chosen.state_names,
            "lambda_invocations": {k.split(":", 1)[1]: v for k, v in one.items() if k.startswith("lambda.invocations:")},
        }
        if len(weighted) > 1:  # routed: the audited share and its path
            rate, audited = weighted[1]
            table[outcome]["audited"] = {"share_of_outcome": rate, "transitions": audited.transitions,
                                         "states": audited.state_names}
    return expected, table
