"""What runs around the workflow, priced per month: logs, metrics, alarms, dashboards, traces, keys,
scheduled functions, and (when the templates declare them) the review table, API and user pool.

Contract
    Each function takes plain inputs (the inventory, the per-image usage, prices, assumptions) and
    returns `LineItem`s; nothing here synthesizes or calls AWS. Log storage is priced on the
    uncompressed bytes (CloudWatch bills compressed storage, so this is an upper bound) for the
    retention each log group declares (no retention: everything ingested so far is kept).
"""
from __future__ import annotations

import math
import re
from collections import Counter

from .inventory import Inventory, StateMachine
from .measurements import Measurements
from .model import GB, LineItem
from .prices import Prices
from .usage import DAYS_PER_MONTH, Assumptions


def log_items(usage: Counter, images: float, inventory: Inventory, p: Prices, a: Assumptions) -> list[LineItem]:
    items = []
    for key, per_image in sorted(usage.items()):
        if not key.startswith("logs.bytes:") or not per_image:
            continue
        group = key.split(":", 1)[1]
        ingested = per_image * images / GB
        retention = inventory.log_retention_days.get(group)
        kept_days = min(retention or math.inf, (a.months_in_operation - 0.5) * DAYS_PER_MONTH)
        items.append(LineItem("CloudWatch Logs", f"{group} ingestion", ingested, "GB", p.get("cloudwatch.logs_ingest_per_gb"),
                              f"{per_image:.0f} B per image (measured log output + platform lines + 26 B/event)"))
        items.append(LineItem("CloudWatch Logs", f"{group} storage", ingested / DAYS_PER_MONTH * kept_days, "GB-month",
                              p.get("cloudwatch.logs_store_gb_month"),
                              f"{retention} days retention" if retention else "no retention: kept"))
    return items


def _signature(series: str) -> str:
    """`ns/name{k=v,...}` -> `ns/name{k,...}`: the same metric whatever the dimension values."""
    return re.sub(r"=[^,}]*", "", series)


def metric_and_alarm_items(inventory: Inventory, m: Measurements, p: Prices) -> list[LineItem]:
    measured = set(m.metric_series)
    signatures = {_signature(s) for s in measured}
    from_alarms = {s for alarm in inventory.alarms for s in alarm.custom_metrics if _signature(s) not in signatures}
    series = len(measured | from_alarms)
    standard = sum(a.metric_count for a in inventory.alarms if not a.high_resolution and not a.composite)
    high = sum(a.metric_count for a in inventory.alarms if a.high_resolution and not a.composite)
    composite = sum(1 for a in inventory.alarms if a.composite)
    items = [LineItem("CloudWatch", "custom metrics (EMF and published)", series, "metric-months",
                      p.get("cloudwatch.metric_month"),
                      f"{len(measured)} series emitted in the measurement + {len(from_alarms)} more alarmed on",
                      scales_with_volume=False),
             LineItem("CloudWatch", "alarms (standard resolution)", standard, "alarm metric-months",
                      p.get("cloudwatch.alarm_metric_month"),
                      f"{len(inventory.alarms)} alarms in the templates; metric-math alarms count each metric",
                      scales_with_volume=False)]
    if high:
        items.append(LineItem("CloudWatch", "alarms (high resolution)", high, "alarm metric-months",
                              p.get("cloudwatch.alarm_high_resolution_metric_month"), "period under 60 s",
                              scales_with_volume=False))
    if composite:
        items.append(LineItem("CloudWatch", "composite alarms", composite, "alarm-months",
                              p.get("cloudwatch.composite_alarm_month"), "in the templates", scales_with_volume=False))
    if inventory.dashboards:
        items.append(LineItem("CloudWatch", "dashboards", inventory.dashboards, "dashboard-months",
                              p.get("cloudwatch.dashboard_month"), "in the templates", scales_with_volume=False))
    return items


def traced_per_month(images_per_day: float, a: Assumptions) -> float:
    """Traces the X-Ray default rule records: 1 per second, then 5 % of the rest (busy hours)."""
    seconds = a.busy_hours_per_day * 3600
    rate = images_per_day / seconds
    sampled = min(rate, a.xray_reservoir_per_second) + a.xray_fixed_rate * max(0.0, rate - a.xray_reservoir_per_second)
    return sampled * seconds * DAYS_PER_MONTH


def xray_items(machine: StateMachine, inventory: Inventory, images_per_day: float, p: Prices,
               a: Assumptions) -> list[LineItem]:
    if not (machine.tracing or any(f.tracing for f in inventory.functions.values())):
        return []
    return [LineItem("X-Ray", "traces recorded", traced_per_month(images_per_day, a), "traces",
                     p.get("xray.per_million_traces_recorded") / 1e6,
                     "one trace per image, default sampling rule (1/s + 5 %)")]


def fixed_items(inventory: Inventory, m: Measurements, p: Prices, a: Assumptions) -> tuple[list[LineItem], list[str]]:
    """Keys, scheduled functions: what the deployment costs at zero images."""
    items, warnings = [], []
    if inventory.kms_keys:
        items.append(LineItem("KMS", "customer managed keys", inventory.kms_keys, "key-months", p.get("kms.key_month"),
                              "in the templates", scales_with_volume=False))
    for schedule in inventory.schedules:
        for fn_id in schedule.function_targets:
            function = inventory.functions.get(fn_id)
            if function is None:
                continue
            duration = m.duration_ms(function.handler)
            if duration is None:
                warnings.append(f"{function.handler} (scheduled) has no measured duration: priced at its "
                                f"{function.timeout_s} s timeout")
                duration = function.timeout_s * 1000.0
            runs = schedule.runs_per_month
            items.append(LineItem("Lambda", f"{function.handler} (scheduled) requests", runs, "requests",
                                  p.get("lambda.per_million_requests") / 1e6, f"{runs:.0f} runs a month (schedule)",
                                  scales_with_volume=False))
            items.append(LineItem("Lambda", f"{function.handler} (scheduled) compute",
                                  runs * function.memory_mb / 1024 * duration / 1000, "GB-s",
                                  p.get(f"lambda.per_gb_second.{function.architecture}"),
                                  f"{function.memory_mb} MB {function.architecture} x {duration / 1000:.1f} s",
                                  scales_with_volume=False))
    return items, warnings


def review_items(inventory: Inventory, usage: Counter, images_per_day: float, mix: dict[str, float],
                 p: Prices, a: Assumptions) -> list[LineItem]:
    """The DynamoDB tables, the review API and user pool, when the templates declare them.

    A table whose items expire and that the definition writes per image (the delivery claims) is
    priced from the definition's calls alone; any other table as the review table (assumed calls
    per review item, plus the definition's calls no expiring table took)."""
    items = []
    per_month = images_per_day * DAYS_PER_MONTH
    review_items_month = per_month * (mix.get("review", 0.0) + mix.get("failed", 0.0))
    expiring = [t for t in inventory.tables
                if t.ttl_attribute and (usage[f"ddb.write:{t.logical_id}"] or usage[f"ddb.read:{t.logical_id}"])]
    rest = {meter: usage[meter] - sum(usage[f"{meter}:{t.logical_id}"] for t in expiring)
            for meter in ("ddb.write", "ddb.read")}
    for table in inventory.tables:
        per_image = table in expiring
        if per_image:
            writes, reads = (usage[f"{meter}:{table.logical_id}"] * per_month for meter in ("ddb.write", "ddb.read"))
            basis = "per image on the definition's paths"
        else:
            writes = review_items_month * a.review_table_writes_per_item + rest["ddb.write"] * per_month
            reads = review_items_month * a.review_table_reads_per_item + rest["ddb.read"] * per_month
        if table.on_demand:
            items.append(LineItem("DynamoDB", f"{table.logical_id} writes (on demand)", writes, "write units",
                                  p.get("dynamodb.on_demand_per_million_write_units") / 1e6,
                                  basis if per_image else
                                  f"{a.review_table_writes_per_item:g} per review item (assumed) + definition writes"))
            items.append(LineItem("DynamoDB", f"{table.logical_id} reads (on demand)", reads, "read units",
                                  p.get("dynamodb.on_demand_per_million_read_units") / 1e6,
                                  basis if per_image else
                                  f"{a.review_table_reads_per_item:g} per review item (assumed) + definition reads"))
        else:
            items.append(LineItem("DynamoDB", f"{table.logical_id} provisioned capacity",
                                  table.write_capacity * 730, "WCU-hours", p.get("dynamodb.provisioned_wcu_hour"),
                                  "declared", scales_with_volume=False))
            items.append(LineItem("DynamoDB", f"{table.logical_id} provisioned reads", table.read_capacity * 730,
                                  "RCU-hours", p.get("dynamodb.provisioned_rcu_hour"), "declared", scales_with_volume=False))
        if per_image:
            stored = writes / DAYS_PER_MONTH * a.expiring_item_days * a.expiring_item_bytes / GB
            basis = f"{a.expiring_item_bytes} B per item, stored {a.expiring_item_days:g} days (TTL + deletion delay)"
        else:
            stored = review_items_month * a.review_item_bytes * (a.months_in_operation - 0.5) / GB
            basis = f"{a.review_item_bytes} B per review item, kept"
        items.append(LineItem("DynamoDB", f"{table.logical_id} storage", stored, "GB-month",
                              p.get("dynamodb.storage_gb_month"), basis))
    for api_id, protocol in sorted(inventory.apis.items()):
        key = {"HTTP": "apigateway.http_per_million", "REST": "apigateway.rest_per_million"}.get(protocol)
        if key:
            items.append(LineItem("API Gateway", f"{api_id} ({protocol}) requests",
                                  review_items_month * a.review_api_requests_per_item, "requests", p.get(key) / 1e6,
                                  f"{a.review_api_requests_per_item:g} per review item (assumed)"))
    if inventory.user_pools:
        items.append(LineItem("Cognito", "monthly active reviewers", a.reviewers * inventory.user_pools, "MAU",
                              p.get("cognito.per_mau"), f"{a.reviewers} reviewers (assumed)", scales_with_volume=False))
    return items


def training_items(inventory: Inventory, p: Prices) -> list[LineItem]:
    """One retraining deploy, at most (the job's max runtime): not part of the monthly total."""
    return [LineItem("Training (per retraining deploy)", f"{job['instance_type']} for at most "
                     f"{job['max_runtime_s'] / 3600:g} h", job["max_runtime_s"] / 3600, "instance-hours",
                     p.instance_hour(job["instance_type"]), "the job's MaxRuntimeInSeconds (upper bound)",
                     scales_with_volume=False) for job in inventory.training_jobs]
