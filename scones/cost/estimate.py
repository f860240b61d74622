"""The whole estimate and what changes it (the levers).

Contract
    `estimate(inputs)` prices the deployment (see `model` for the conventions) and returns an
    `Estimate`, with `one_off` (a retraining deploy) and `other_workflows` (state machines not
    started per upload: transitions per run, and per item for a Distributed Map) kept apart from the
    monthly total.

    `levers(inputs)` re-prices the same inputs with one thing changed and returns, per lever, the
    new monthly total, the difference and what the change gives up:
      * the upload workflow as Express instead of Standard (or the reverse);
      * the endpoint as SageMaker Serverless Inference instead of real-time instances (data capture
        is not supported there, so the capture lines disappear and the drift check goes blind);
      * the data-capture sampling percentage (10 % if above it, else 100 %);
      * uploads expiring after 30 days, when no lifecycle rule covers the upload prefix (they are
        kept, and their storage is the largest line at volume).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from .definition import costliest, paths_by_outcome, walk
from .inventory import Inventory, LifecycleRule
from .model import (CostInputs, Estimate, LineItem, data_bucket, endpoint_items, lambda_items, request_items,
                    storage_items, workflow_items)
from .operations import fixed_items, log_items, metric_and_alarm_items, review_items, training_items, xray_items
from .usage import DAYS_PER_MONTH, image_usage, outcome_mix, path_usage

EXPRESS_GIVES_UP = ("at-least-once instead of exactly-once execution (a routing event may be published twice); "
                    "no 90-day execution history (CloudWatch Logs only); 5-minute limit, below the "
                    "configured execution timeout when endpoint retries back off")
UPLOAD_EXPIRY_DAYS = 30
EXPIRY_GIVES_UP = (f"the uploaded photos (the evidence behind each routing decision) are deleted after "
                   f"{UPLOAD_EXPIRY_DAYS} days instead of kept")
SERVERLESS_GIVES_UP = ("no data capture (Serverless Inference does not support it), so the drift check and its "
                       "alarm have no data; cold starts of seconds after idle periods; no autoscaling bounds")


def estimate(inputs: CostInputs) -> Estimate:
    inventory, m, p, a = inputs.inventory, inputs.measurements, inputs.prices, inputs.assumptions
    machine = inventory.upload_machine()
    mix = outcome_mix(m.outcome_shares()["routed"], a)
    usage, outcomes = image_usage(machine, inventory, m, mix, a)
    usage["s3.put"] += 1.0  # the upload itself (the driver app's PUT), before any execution
    images = inputs.images_per_day * DAYS_PER_MONTH
    warnings: list[str] = []
    items: list[LineItem] = workflow_items(machine, usage, images, p, a)
    function_lines, function_warnings = lambda_items(usage, images, inventory, m, p)
    items += function_lines
    warnings += function_warnings
    capture_day = 0.0
    sizing: dict[str, Any] = {}
    for endpoint in inventory.endpoints:
        endpoint_lines, sizing, endpoint_warnings, capture_day = endpoint_items(endpoint, usage, inputs.images_per_day,
                                                                                m, p, a)
        items += endpoint_lines
        warnings += endpoint_warnings
    items += request_items(usage, images, p)
    items += storage_items(inputs, usage, capture_day)
    items += log_items(usage, images, inventory, p, a)
    items += metric_and_alarm_items(inventory, m, p)
    items += xray_items(machine, inventory, inputs.images_per_day, p, a)
    fixed, fixed_warnings = fixed_items(inventory, m, p, a)
    items += fixed
    warnings += fixed_warnings
    items += review_items(inventory, usage, inputs.images_per_day, mix, p, a)
    warnings += [f"{count} x {kind} declared but not priced by this model" for kind, count in inventory.unpriced.items()]
    return Estimate(region=p.region, images_per_day=inputs.images_per_day, items=items, outcomes=outcomes,
                    endpoint=sizing, warnings=warnings, one_off=training_items(inventory, p),
                    other_workflows=other_workflows(inputs))


def other_workflows(inputs: CostInputs) -> list[dict[str, Any]]:
    """State machines not started per upload: transitions and price per run, per item when distributed."""
    rows = []
    per_transition = inputs.prices.get("stepfunctions.standard_per_1k_transitions") / 1000
    for machine in inputs.inventory.state_machines.values():
        if machine.upload_triggered:
            continue
        paths = walk(machine.definition)
        worst = costliest(paths)
        row: dict[str, Any] = {"state_machine": machine.logical_id, "type": machine.type,
                               "outcomes": sorted(paths_by_outcome(paths)),
                               "transitions_per_run": worst.transitions,
                               "standard_price_per_run": round(worst.transitions * per_transition, 6)}
        for step in worst.steps:
            if step.distributed and step.item_paths:
                row["distributed_map"] = distributed_map_price(step, inputs, per_transition)
        rows.append(row)
    return rows


def distributed_map_price(step, inputs: CostInputs, per_transition: float) -> dict[str, Any]:
    """Price of one million items of a Distributed Map, each taking the item processor's costliest
    path: the child executions, the Lambda requests and compute, the S3 requests and routing
    events the path makes (measured handler calls included), and the Lambda log ingestion."""
    inventory, m, p, a = inputs.inventory, inputs.measurements, inputs.prices, inputs.assumptions
    item = costliest(list(step.item_paths))
    usage = path_usage(item, inventory, m, a)
    express = step.child_execution_type == "EXPRESS"
    children = (express_child_price(item, m, p, a) if express else item.transitions * per_transition) * 1e6
    by_component: dict[str, float] = {"child executions": children}
    lines = lambda_items(usage, 1e6, inventory, m, p)[0] + request_items(usage, 1e6, p)
    lines += [i for i in log_items(usage, 1e6, inventory, p, a) if i.item.endswith(" ingestion")]
    for line in lines:
        by_component[line.component] = by_component.get(line.component, 0.0) + line.monthly
    return {
        "state": step.name, "child_execution_type": step.child_execution_type,
        "transitions_per_item": item.transitions, "item_outcome": item.outcome,
        "price_per_million_items": round(sum(by_component.values()), 2),
        "by_component": {k: round(v, 2) for k, v in by_component.items()},
        "basis": ("one Express request per item + its duration (the upload workflow's measured execution "
                  f"time, rounded up to 100 ms, x {a.express_memory_mb} MB)" if express
                  else "child transitions (Standard)") +
                 " + the item's Lambda requests and compute, S3 requests and events (measured calls), and "
                 "Lambda log ingestion; the map run's own transitions, S3 listing, result files and log "
                 "storage not included"}


def express_child_price(item, m, p, a) -> float:
    """One Express child execution taking path `item`: a request plus its duration in 64-MB chunks."""
    measured = m.execution(item.outcome) or m.any_execution()
    seconds = math.ceil(measured["duration_ms_mean"] / 100) / 10
    gb_s = seconds * math.ceil(a.express_memory_mb / 64) * 64 / 1024
    return p.get("stepfunctions.express_per_million_requests") / 1e6 + gb_s * p.get("stepfunctions.express_per_gb_second")


def _with_machine_type(inventory: Inventory, machine_id: str, kind: str) -> Inventory:
    machines = dict(inventory.state_machines)
    machines[machine_id] = replace(machines[machine_id], type=kind)
    return replace(inventory, state_machines=machines)


def levers(inputs: CostInputs, base: Estimate | None = None) -> list[dict[str, Any]]:
    base = base or estimate(inputs)
    inventory = inputs.inventory
    rows = []
    machine = inventory.upload_machine()
    other = "EXPRESS" if machine.type == "STANDARD" else "STANDARD"
    alternative = estimate(replace(inputs, inventory=_with_machine_type(inventory, machine.logical_id, other)))
    rows.append(_row(f"upload workflow as {other} (now {machine.type})", base, alternative,
                     EXPRESS_GIVES_UP if other == "EXPRESS" else "pays per transition; gains exactly-once and history"))
    for endpoint in inventory.endpoints:
        if not endpoint.serverless:
            serverless = replace(endpoint, instance_type=None, serverless_memory_mb=inputs.assumptions.serverless_memory_mb,
                                 capture_percent=0)
            alternative = estimate(replace(inputs, inventory=replace(inventory, endpoints=[
                serverless if e is endpoint else e for e in inventory.endpoints])))
            rows.append(_row(f"Serverless Inference ({serverless.serverless_memory_mb} MB) instead of "
                             f"{endpoint.instance_type} instances", base, alternative, SERVERLESS_GIVES_UP))
            percent = 10 if endpoint.capture_percent > 10 else 100
            sampled = replace(endpoint, capture_percent=percent)
            alternative = estimate(replace(inputs, inventory=replace(inventory, endpoints=[
                sampled if e is endpoint else e for e in inventory.endpoints])))
            rows.append(_row(f"data capture at {percent} % (now {endpoint.capture_percent} %)", base, alternative,
                             "fewer captured records for the drift check: its minimum-record guard is reached later"
                             if percent < endpoint.capture_percent else "more captured traffic to store"))
    bucket = data_bucket(inventory, inputs.layout)
    if bucket is not None and bucket.rule_for(inputs.layout.incoming) is None:
        expiring = replace(bucket, rules=bucket.rules + (LifecycleRule(inputs.layout.incoming, None, None,
                                                                       UPLOAD_EXPIRY_DAYS),))
        buckets = {**inventory.buckets, bucket.logical_id: expiring}
        alternative = estimate(replace(inputs, inventory=replace(inventory, buckets=buckets)))
        rows.append(_row(f"uploads expire after {UPLOAD_EXPIRY_DAYS} days (now kept)", base, alternative, EXPIRY_GIVES_UP))
    return rows


def _row(change: str, base: Estimate, alternative: Estimate, trade_off: str) -> dict[str, Any]:
    return {"change": change, "monthly_total": round(alternative.monthly_total, 2),
            "difference": round(alternative.monthly_total - base.monthly_total, 2),
            "per_million_images": round(alternative.per_million_images, 2), "gives_up": trade_off}
