"""The cost model: per-image usage and the declared resources, priced per month.

Contract
    `estimate(CostInputs)` -> `Estimate`: monthly line items (component, item, quantity, unit,
    unit price, basis), the total, the cost per million images (all-in, and the part that grows with
    volume), the endpoint sizing, warnings, and the outcome table. Pure: no synthesis, no AWS, no
    network; every number comes from the inputs, so tests check it against hand-computed cases.

    Months are 730 hours (30.42 days); GB are 2^30 bytes. Free tiers are not deducted. Traffic
    arrives in `busy_hours_per_day`; the endpoint runs `ceil(invocations per minute / target)`
    instances then (within the autoscaling bounds) and its minimum capacity the rest of the day.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .inventory import HOURS_PER_MONTH, Bucket, Endpoint, Inventory, StateMachine
from .measurements import Measurements
from .prices import Prices
from .usage import DAYS_PER_MONTH, Assumptions, image_usage, outcome_mix

GB = 2 ** 30


@dataclass(frozen=True)
class BucketLayout:
    """Where the workflow writes in the data bucket (key prefixes), to match lifecycle rules."""

    incoming: str
    quarantine: str
    capture: str


@dataclass(frozen=True)
class CostInputs:
    inventory: Inventory
    measurements: Measurements
    prices: Prices
    images_per_day: float
    layout: BucketLayout
    assumptions: Assumptions = field(default_factory=Assumptions)

    def __post_init__(self) -> None:
        if not (isinstance(self.images_per_day, (int, float)) and self.images_per_day > 0
                and math.isfinite(self.images_per_day)):
            raise ValueError(f"images per day must be a positive number, got {self.images_per_day!r}")


@dataclass(frozen=True)
class LineItem:
    component: str
    item: str
    quantity: float  # per month
    unit: str
    unit_price: float
    basis: str
    scales_with_volume: bool = True

    @property
    def monthly(self) -> float:
        return self.quantity * self.unit_price


@dataclass
class Estimate:
    region: str
    images_per_day: float
    items: list[LineItem]
    outcomes: dict[str, dict[str, Any]]
    endpoint: dict[str, Any]
    warnings: list[str]
    one_off: list[LineItem] = field(default_factory=list)  # a retraining deploy: not monthly
    other_workflows: list[dict[str, Any]] = field(default_factory=list)  # not started per upload

    @property
    def images_per_month(self) -> float:
        return self.images_per_day * DAYS_PER_MONTH

    @property
    def monthly_total(self) -> float:
        return sum(item.monthly for item in self.items)

    @property
    def per_million_images(self) -> float:
        return self.monthly_total / self.images_per_month * 1e6

    @property
    def variable_per_million_images(self) -> float:
        return sum(i.monthly for i in self.items if i.scales_with_volume) / self.images_per_month * 1e6

    def by_component(self) -> dict[str, float]:
        totals: Counter = Counter()
        for item in self.items:
            totals[item.component] += item.monthly
        return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def _meters(usage: Counter, prefix: str) -> dict[str, float]:
    return {k.split(":", 1)[1]: v for k, v in usage.items() if k.startswith(prefix + ":")}


def workflow_items(machine: StateMachine, usage: Counter, images: float, p: Prices, a: Assumptions) -> list[LineItem]:
    executions = usage[f"sfn.executions:{machine.logical_id}"] * images
    if machine.type == "EXPRESS":
        duration_s = math.ceil(usage[f"sfn.duration_ms:{machine.logical_id}"] / 100) / 10  # 100-ms steps
        gb_s = executions * duration_s * (math.ceil(a.express_memory_mb / 64) * 64 / 1024)
        return [LineItem("Step Functions", "Express requests", executions, "requests",
                         p.get("stepfunctions.express_per_million_requests") / 1e6, "one per image"),
                LineItem("Step Functions", "Express duration", gb_s, "GB-s", p.get("stepfunctions.express_per_gb_second"),
                         f"{duration_s:.1f} s per execution (measured locally, rounded up to 100 ms) x "
                         f"{a.express_memory_mb} MB")]
    transitions = usage[f"sfn.transitions:{machine.logical_id}"]
    return [LineItem("Step Functions", "Standard state transitions", transitions * images, "transitions",
                     p.get("stepfunctions.standard_per_1k_transitions") / 1000,
                     f"{transitions:.2f} per image over the outcome mix (paths of the definition)")]


def lambda_items(usage: Counter, images: float, inventory: Inventory, m: Measurements, p: Prices) -> tuple[list[LineItem], list[str]]:
    items, warnings = [], []
    for fn_id, per_image in sorted(_meters(usage, "lambda.invocations").items()):
        function = inventory.functions.get(fn_id)
        if function is None:
            warnings.append(f"the definition invokes {fn_id}, which is not a function of these templates: not priced")
            continue
        invocations = per_image * images
        duration = m.duration_ms(function.handler)
        basis = f"{duration:.0f} ms mean billed duration (measured locally)" if duration is not None else \
            f"{function.timeout_s} s timeout (not measured: upper bound)"
        if duration is None:
            duration = function.timeout_s * 1000.0
            warnings.append(f"{function.handler} has no measured duration: priced at its {function.timeout_s} s timeout")
        items.append(LineItem("Lambda", f"{function.handler} requests", invocations, "requests",
                              p.get("lambda.per_million_requests") / 1e6, f"{per_image:.3f} per image"))
        items.append(LineItem("Lambda", f"{function.handler} compute", invocations * function.memory_mb / 1024 * duration / 1000,
                              "GB-s", p.get(f"lambda.per_gb_second.{function.architecture}"),
                              f"{function.memory_mb} MB {function.architecture} x {basis}"))
    return items, warnings


def endpoint_instances(endpoint: Endpoint, invocations_per_day: float, a: Assumptions) -> dict[str, Any]:
    """Instances in busy hours (target tracking within the bounds) and the rest of the day."""
    per_minute = invocations_per_day / (a.busy_hours_per_day * 60)
    target = endpoint.target_invocations_per_instance_minute
    needed = math.ceil(per_minute / target) if target else endpoint.initial_instance_count
    busy = min(max(needed, endpoint.min_capacity), endpoint.max_capacity) if target else endpoint.initial_instance_count
    idle = endpoint.min_capacity if target else endpoint.initial_instance_count
    hours = (busy * a.busy_hours_per_day + idle * (24 - a.busy_hours_per_day)) * DAYS_PER_MONTH
    return {"invocations_per_busy_minute": per_minute, "target_per_instance_minute": target, "needed": needed,
            "busy_instances": busy, "idle_instances": idle, "instance_hours": hours,
            "bounds": [endpoint.min_capacity, endpoint.max_capacity]}


def endpoint_items(endpoint: Endpoint, usage: Counter, images_per_day: float, m: Measurements, p: Prices,
              a: Assumptions) -> tuple[list[LineItem], dict[str, Any], list[str], float]:
    """Instance-hours (or serverless compute), data processed; returns capture bytes per day too."""
    invocations_day = usage["endpoint.invocations"] * images_per_day
    invocations = invocations_day * DAYS_PER_MONTH
    capture = m.capture
    bytes_in, bytes_out = capture.get("request_bytes_mean", 0.0), capture.get("response_bytes_mean", 0.0)
    items = [LineItem("SageMaker endpoint", "data processed in", invocations * bytes_in / GB, "GB",
                      p.get("sagemaker.data_processed_in_per_gb"), f"{bytes_in:.0f} B request (measured)"),
             LineItem("SageMaker endpoint", "data processed out", invocations * bytes_out / GB, "GB",
                      p.get("sagemaker.data_processed_out_per_gb"), f"{bytes_out:.0f} B response (measured)")]
    warnings: list[str] = []
    if endpoint.serverless:
        latency = m.model_latency_ms or 0.0
        items.append(LineItem("SageMaker endpoint", f"serverless compute ({endpoint.serverless_memory_mb} MB)",
                              invocations * endpoint.serverless_memory_mb / 1024 * latency / 1000, "GB-s",
                              p.get("sagemaker.serverless_per_gb_second"),
                              f"{latency:.0f} ms per request (model server, measured locally)"))
        return items, {"mode": "serverless", "memory_mb": endpoint.serverless_memory_mb}, warnings, 0.0
    sizing = endpoint_instances(endpoint, invocations_day, a)
    sizing["mode"] = "real-time"
    sizing["instance_type"] = endpoint.instance_type
    if sizing["needed"] > endpoint.max_capacity:
        warnings.append(
            f"{sizing['invocations_per_busy_minute']:.0f} invocations per minute in busy hours need "
            f"{sizing['needed']} instances at the scaling target of {sizing['target_per_instance_minute']:.0f} per "
            f"instance-minute, above autoscaling_max_capacity {endpoint.max_capacity}: priced at "
            f"{endpoint.max_capacity}; raise the bound or expect throttling and latency")
    items.insert(0, LineItem("SageMaker endpoint", f"{endpoint.instance_type} instance-hours", sizing["instance_hours"],
                             "instance-hours", p.instance_hour(str(endpoint.instance_type)),
                             f"{sizing['busy_instances']} in {a.busy_hours_per_day:g} busy h/day, "
                             f"{sizing['idle_instances']} otherwise (bounds {sizing['bounds']})",
                             scales_with_volume=False))
    capture_day = invocations_day * endpoint.capture_percent / 100 * capture.get("record_bytes_mean", 0.0)
    if endpoint.capture_percent:
        objects = sizing["busy_instances"] * a.busy_hours_per_day * 60 * a.capture_objects_per_instance_minute
        items.append(LineItem("Data capture", "capture objects written (S3 PUT)", objects * DAYS_PER_MONTH, "requests",
                              p.get("s3.put_per_1k") / 1000,
                              f"{a.capture_objects_per_instance_minute:g} per busy instance-minute (assumed)"))
    sizing["capture_percent"] = endpoint.capture_percent
    sizing["capture_gb_per_month"] = capture_day * DAYS_PER_MONTH / GB
    return items, sizing, warnings, capture_day


def request_items(usage: Counter, images: float, p: Prices) -> list[LineItem]:
    rows = [("S3", "PUT/COPY requests", "s3.put", p.get("s3.put_per_1k") / 1000,
             "the upload, plus the quarantine copy and reason of an invalid image"),
            ("S3", "GET/HEAD requests", "s3.get", p.get("s3.get_per_1k") / 1000, "serialize reads the upload (measured calls)"),
            ("SQS", "requests", "sqs.requests", p.get("sqs.per_million_requests") / 1e6, "review and failure messages sent"),
            ("EventBridge", "routing events (custom bus)", "events.custom",
             p.get("eventbridge.per_million_custom_events") / 1e6, "one per routed image; S3 upload events are free")]
    items = [LineItem(c, name, usage[meter] * images, "requests" if c != "EventBridge" else "events", price,
                      f"{usage[meter]:.3f} per image: {basis}") for c, name, meter, price, basis in rows if usage[meter]]
    return items


def stored_gb(daily_bytes: float, bucket: Bucket | None, prefix: str, month: int) -> tuple[float, float]:
    """(Standard GB, Standard-IA GB) held on average during `month`, under the lifecycle rule for `prefix`."""
    age = (month - 0.5) * DAYS_PER_MONTH  # the oldest object's age mid-month
    rule = bucket.rule_for(prefix) if bucket else None
    expiry = rule.expiration_days if rule and rule.expiration_days else math.inf
    transition = rule.transition_days if rule and rule.transition_days else None
    standard_days = min(age, expiry, transition if transition else math.inf)
    ia_days = max(0.0, min(age, expiry) - transition) if transition else 0.0
    return daily_bytes * standard_days / GB, daily_bytes * ia_days / GB


def data_bucket(inventory: Inventory, layout: BucketLayout) -> Bucket | None:
    log_targets = {b.logs_to for b in inventory.buckets.values() if b.logs_to}
    data = [b for b in inventory.buckets.values() if b.logical_id not in log_targets]
    matching = [b for b in data if any(r.prefix in (layout.capture, layout.quarantine) for r in b.rules)]
    return (matching or data or [None])[0]


def storage_items(inputs: CostInputs, usage: Counter, capture_day: float) -> list[LineItem]:
    a, p, inventory = inputs.assumptions, inputs.prices, inputs.inventory
    bucket = data_bucket(inventory, inputs.layout)
    quarantined = a.quarantined_share
    streams = [("uploads", inputs.layout.incoming, inputs.images_per_day * a.upload_bytes,
                f"{a.upload_bytes / 1e6:g} MB per upload (assumed), kept"),
               ("quarantine copies", inputs.layout.quarantine,
                inputs.images_per_day * quarantined * (a.upload_bytes + a.quarantine_reason_bytes),
                f"{quarantined:.1%} of uploads copied with a reason"),
               ("captured traffic", inputs.layout.capture, capture_day, "capture records (measured size)")]
    items = []
    month = a.months_in_operation
    for name, prefix, daily, basis in streams:
        standard, ia = stored_gb(daily, bucket, prefix, month)
        if standard:
            items.append(LineItem("S3", f"{name} storage (Standard)", standard, "GB-month", p.get("s3.standard_gb_month"),
                                  f"{basis}; month {month} of operation under the bucket's lifecycle"))
        if ia:
            items.append(LineItem("S3", f"{name} storage (Standard-IA)", ia, "GB-month", p.get("s3.standard_ia_gb_month"),
                                  f"{basis}; after the lifecycle transition"))
    if bucket and bucket.logs_to:
        requests_day = (usage["s3.put"] + usage["s3.get"]) * inputs.images_per_day
        log_bucket = inventory.buckets.get(bucket.logs_to)
        standard, ia = stored_gb(requests_day * a.access_log_record_bytes, log_bucket, "", month)
        items.append(LineItem("S3", "server access logs storage", standard + ia, "GB-month", p.get("s3.standard_gb_month"),
                              f"{a.access_log_record_bytes} B per request to the data bucket (assumed record size)"))
    return items
