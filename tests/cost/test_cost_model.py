"""The cost arithmetic against hand-computed cases (small explicit inputs: see cost_helpers).

24 images a day = 730 a month. Outcome mix: routed 3 of 4 classified (0.75), review 0.25.
"""
from __future__ import annotations

import copy
import math
from dataclasses import replace

import pytest

from scones.cost.definition import walk
from scones.cost.estimate import estimate, levers
from scones.cost.inventory import Bucket, Function, Inventory, LifecycleRule, StateMachine
from scones.cost.model import GB, endpoint_instances, stored_gb
from scones.cost.operations import traced_per_month
from scones.cost.usage import Assumptions, audit_sample_rate, outcome_mix

from .cost_helpers import DEFINITION, endpoint, inputs, inventory, item, machine


def test_outcome_mix_takes_quarantined_and_failed_out_of_the_classified_share():
    mix = outcome_mix(0.75, Assumptions(quarantined_share=0.1, failed_share=0.1))
    assert mix == pytest.approx({"routed": 0.6, "review": 0.2, "quarantined": 0.1, "failed": 0.1})


def test_standard_transitions_lambda_sqs_and_s3_reads_by_hand():
    result = estimate(inputs())
    # transitions per image: routed 3 x 0.75 + review 4 x 0.25 = 3.25; x 730 images = 2372.5
    transitions = item(result, "Step Functions", "Standard state transitions")
    assert transitions.quantity == pytest.approx(2372.5)
    assert transitions.monthly == pytest.approx(2372.5 * 0.025 / 1000)
    # one 1024 MB arm64 invocation of 100 ms per image: 730 requests, 730 x 1 GB x 0.1 s = 73 GB-s
    assert item(result, "Lambda", "f1.handler requests").quantity == pytest.approx(730)
    compute = item(result, "Lambda", "f1.handler compute")
    assert compute.quantity == pytest.approx(73)
    assert compute.monthly == pytest.approx(73 * 0.00001)
    # the review path sends one message: 0.25 x 730; the handler reads S3 once per image (measured)
    assert item(result, "SQS", "requests").quantity == pytest.approx(182.5)
    assert item(result, "S3", "GET/HEAD requests").quantity == pytest.approx(730)
    assert item(result, "S3", "PUT/COPY requests").quantity == pytest.approx(730)  # the uploads
    assert result.images_per_month == pytest.approx(730)
    assert result.per_million_images == pytest.approx(result.monthly_total / 730 * 1e6)


def _audited(rate: str | None) -> Inventory:
    """The helpers' machine with an audit branch before Routed: Audit? -> Open audit (F1, reason
    audit) -> Routed, or straight to Routed; F1's AUDIT_SAMPLE_RATE is `rate` (None: not set)."""
    definition = copy.deepcopy(DEFINITION)
    definition["States"]["Valid?"]["Choices"][0]["Next"] = "Audit?"
    definition["States"]["Audit?"] = {"Type": "Choice", "Default": "Routed",
                                      "Choices": [{"Variable": "$.audit", "BooleanEquals": True, "Next": "Open audit"}]}
    definition["States"]["Open audit"] = {"Type": "Task", "Resource": "${GetAtt:F1.Arn}", "Next": "Routed",
                                          "Parameters": {"request": {"reason": "audit", "key.$": "$.key"}}}
    environment = {"AUDIT_SAMPLE_RATE": rate} if rate is not None else {}
    f1 = Function("F1", "f1.handler", memory_mb=1024, architecture="arm64", timeout_s=30, tracing=False,
                  log_group="F1Logs", environment=environment)
    return inventory(functions={"F1": f1}, state_machines={"Machine": replace(machine(), definition=definition)})


def test_the_audited_share_of_routed_images_is_weighted_by_the_rate_in_the_template_by_hand():
    # routed without audit: Serialize, Valid?, Audit?, Routed = 4 transitions; audited: + Open audit = 5.
    # rate 0.1: routed 0.9 x 4 + 0.1 x 5 = 4.1; per image 0.75 x 4.1 + 0.25 x 4 (review) = 4.075; x 730
    result = estimate(inputs(_audited("0.1")))
    assert item(result, "Step Functions", "Standard state transitions").quantity == pytest.approx(4.075 * 730)
    # F1: once per image (Serialize), plus the audit item for 0.1 of the routed 0.75
    assert item(result, "Lambda", "f1.handler requests").quantity == pytest.approx(730 * (1 + 0.75 * 0.1))
    routed = result.outcomes["routed"]
    assert (routed["transitions"], routed["audited"]["transitions"]) == (4, 5)
    assert routed["audited"]["share_of_outcome"] == pytest.approx(0.1)
    # no rate in the template: every routed image with the audit item (the upper bound), 0.75 x 5 + 1
    upper = estimate(inputs(_audited(None)))
    assert item(upper, "Step Functions", "Standard state transitions").quantity == pytest.approx(4.75 * 730)
    assert "audited" not in upper.outcomes["routed"]
    # rate 0: priced as if the audit branch did not exist
    none = estimate(inputs(_audited("0")))
    assert item(none, "Step Functions", "Standard state transitions").quantity == pytest.approx(4.0 * 730)


@pytest.mark.parametrize("rate, fragment", [("2", "must be between 0 and 1, got '2'"),
                                            ("often", "must be a number between 0 and 1, got 'often'")])
def test_an_audit_rate_the_model_cannot_use_is_named(rate, fragment):
    audited = _audited(rate)
    machine = audited.state_machines["Machine"]
    with pytest.raises(ValueError, match=f"AUDIT_SAMPLE_RATE {fragment}"):
        audit_sample_rate(machine, walk(machine.definition), audited)


def test_express_instead_of_standard_by_hand():
    express = inventory(state_machines={"Machine": machine(kind="EXPRESS")})
    result = estimate(inputs(express))
    assert item(result, "Step Functions", "Express requests").quantity == pytest.approx(730)
    # 250 ms measured -> 300 ms billed (100-ms steps) x 64 MB = 0.3 x 0.0625 GB-s per execution
    assert item(result, "Step Functions", "Express duration").quantity == pytest.approx(730 * 0.3 * 0.0625)
    assert not [i for i in result.items if i.item == "Standard state transitions"]


def test_lambda_log_bytes_include_platform_lines_and_event_overhead():
    result = estimate(inputs())
    ingestion = item(result, "CloudWatch Logs", "F1Logs ingestion")
    # 1000 B logged + 370 B START/END/REPORT + (2 + 3 events) x 26 B = 1500 B per invocation
    assert ingestion.quantity == pytest.approx(730 * 1500 / GB)
    storage = item(result, "CloudWatch Logs", "F1Logs storage")
    assert storage.quantity == pytest.approx(730 * 1500 / GB / (730 / 24) * 30)  # 30 days kept


def test_execution_history_is_logged_only_at_level_all():
    logged = estimate(inputs(inventory(state_machines={"Machine": machine(log_level="ALL")})))
    # 5000 B of history + 10 events x 26 B, for every execution
    assert item(logged, "CloudWatch Logs", "MachineLogs ingestion").quantity == pytest.approx(730 * 5260 / GB)
    quiet = estimate(inputs(inventory(state_machines={"Machine": machine(log_level="ERROR")})))
    assert not [i for i in quiet.items if i.item == "MachineLogs ingestion"]


def test_endpoint_instances_follow_the_target_within_the_bounds():
    sizing = endpoint_instances(endpoint(), invocations_per_day=1_440_000, a=Assumptions(busy_hours_per_day=12))
    # 1,440,000 in 12 h = 2000 a minute; / 600 per instance -> 4 instances; 1 the other 12 h
    assert sizing["needed"] == 4 and sizing["busy_instances"] == 4 and sizing["idle_instances"] == 1
    assert sizing["instance_hours"] == pytest.approx((4 * 12 + 1 * 12) * 730 / 24)
    capped = endpoint_instances(endpoint(max_capacity=3), 1_440_000, Assumptions(busy_hours_per_day=12))
    assert capped["needed"] == 4 and capped["busy_instances"] == 3
    quiet = endpoint_instances(endpoint(min_capacity=2, max_capacity=4), 100, Assumptions())
    assert quiet["busy_instances"] == 2 and quiet["instance_hours"] == pytest.approx(2 * 730)


def test_endpoint_items_and_a_warning_when_the_bound_is_too_low():
    inv = inventory(endpoints=[endpoint(max_capacity=1)])
    measured = inputs(inv, images_per_day=1_440_000, busy_hours_per_day=12)
    functions = measured.measurements.document["functions"]
    functions["f1.handler"]["aws_calls_per_invocation"] = {"sagemaker-runtime:InvokeEndpoint": 1.0}
    result = estimate(measured)
    hours = item(result, "SageMaker endpoint", "ml.m5.large instance-hours")
    assert hours.quantity == pytest.approx(730) and hours.unit_price == 0.1  # one instance all month
    assert any("need 4 instances" in w and "above autoscaling_max_capacity 1" in w for w in result.warnings)
    # every image invokes the endpoint once with a 700-byte request (measured)
    invocations = 1_440_000 * 730 / 24
    assert item(result, "SageMaker endpoint", "data processed in").quantity == pytest.approx(invocations * 700 / GB)
    assert item(result, "SageMaker endpoint", "data processed out").quantity == pytest.approx(invocations * 40 / GB)


def test_data_capture_volume_follows_the_sampling_percentage():
    def capture_gb(percent: int) -> float:
        inv = inventory(endpoints=[endpoint(capture_percent=percent)])
        measured = inputs(inv)
        measured.measurements.document["functions"]["f1.handler"]["aws_calls_per_invocation"] = {
            "sagemaker-runtime:InvokeEndpoint": 1.0}
        return estimate(measured).endpoint["capture_gb_per_month"]

    # 730 invocations x 1000 B records x share captured
    assert capture_gb(100) == pytest.approx(730 * 1000 / GB)
    assert capture_gb(10) == pytest.approx(73 * 1000 / GB)
    assert capture_gb(0) == 0


def test_storage_under_a_lifecycle_rule_by_hand():
    bucket = Bucket("B", versioned=True, logs_to=None, rules=(
        LifecycleRule("datacapture/", transition_days=30, transition_class="STANDARD_IA", expiration_days=365),
        LifecycleRule("quarantine/", transition_days=None, transition_class=None, expiration_days=180)))
    day = 730 / 24
    # month 12: the oldest object is 11.5 months old mid-month
    standard, ia = stored_gb(GB, bucket, "datacapture/", 12)
    assert (standard, ia) == pytest.approx((30, 11.5 * day - 30))
    assert stored_gb(GB, bucket, "datacapture/", 1) == pytest.approx((0.5 * day, 0))
    assert stored_gb(GB, bucket, "quarantine/", 12) == pytest.approx((180, 0))
    assert stored_gb(GB, bucket, "incoming/", 12) == pytest.approx((11.5 * day, 0))  # no rule: kept


def test_xray_default_sampling_by_hand():
    day = 730 / 24
    one_per_second = Assumptions(busy_hours_per_day=24)
    assert traced_per_month(86_400, one_per_second) == pytest.approx(86_400 * day)
    # 10 per second: 1 + 5 % of the other 9 = 1.45 traced per second
    assert traced_per_month(864_000, one_per_second) == pytest.approx(1.45 * 86_400 * day)


def test_an_unmeasured_function_is_priced_at_its_timeout_and_said_so():
    measured = inputs()
    measured.measurements.document["functions"].clear()
    result = estimate(measured)
    assert item(result, "Lambda", "f1.handler compute").quantity == pytest.approx(730 * 1 * 30)
    assert any("f1.handler has no measured duration" in w for w in result.warnings)


def test_levers_reprice_with_one_change_each():
    inv = inventory(endpoints=[endpoint()], state_machines={"Machine": machine()})
    measured = inputs(inv)
    measured.measurements.document["functions"]["f1.handler"]["aws_calls_per_invocation"] = {
        "sagemaker-runtime:InvokeEndpoint": 1.0}
    base = estimate(measured)
    rows = {row["change"].split(" ")[0]: row for row in levers(measured, base)}
    express = estimate(replace(measured, inventory=replace(inv, state_machines={"Machine": machine(kind="EXPRESS")})))
    assert rows["upload"]["difference"] == pytest.approx(express.monthly_total - base.monthly_total, abs=0.01)
    # Serverless: no instance-hours, no capture; 730 requests x 2 GB x 0.05 s of model time
    serverless = rows["Serverless"]
    hours = item(base, "SageMaker endpoint", "ml.m5.large instance-hours").monthly
    capture_objects = item(base, "Data capture", "capture objects written (S3 PUT)").monthly
    compute = 730 * 2 * 0.05 * 0.00002
    capture_storage = sum(i.monthly for i in base.items if i.item.startswith("captured traffic"))
    assert serverless["difference"] == pytest.approx(compute - hours - capture_objects - capture_storage, abs=0.01)
    assert "data capture" in serverless["gives_up"]
    assert rows["data"]["change"].startswith("data capture at 10 %")


def test_review_table_api_and_user_pool_are_priced_when_declared():
    from scones.cost.inventory import Table

    inv = inventory(tables=[Table("Reviews", on_demand=True, read_capacity=0, write_capacity=0)],
                    apis={"ReviewApi": "HTTP"}, user_pools=1)
    result = estimate(inputs(inv))
    review_items = 730 * 0.25  # review share; no failures assumed here
    assert item(result, "DynamoDB", "Reviews writes (on demand)").quantity == pytest.approx(review_items * 2)
    assert item(result, "DynamoDB", "Reviews reads (on demand)").quantity == pytest.approx(review_items * 3)
    assert item(result, "API Gateway", "ReviewApi (HTTP) requests").quantity == pytest.approx(review_items * 3)
    assert item(result, "Cognito", "monthly active reviewers").quantity == 10


@pytest.mark.parametrize("bad", [0, -5, math.inf, math.nan, "100"])
def test_images_per_day_must_be_a_positive_number(bad):
    with pytest.raises(ValueError, match="images per day must be a positive number"):
        inputs(images_per_day=bad)


def test_uploads_kept_forever_dominate_storage_and_the_expiry_lever_prices_it():
    data = Bucket("Data", versioned=True, logs_to=None, rules=(
        LifecycleRule("quarantine/", transition_days=None, transition_class=None, expiration_days=180),))
    measured = inputs(inventory(buckets={"Data": data}), upload_bytes=GB // 24)  # 1 GB of uploads a day
    base = estimate(measured)
    kept = item(base, "S3", "uploads storage (Standard)")
    assert kept.quantity == pytest.approx(11.5 * 730 / 24)  # month 12: 11.5 months of uploads, mid-month
    expiry, = [row for row in levers(measured, base) if row["change"].startswith("uploads expire")]
    assert expiry["difference"] == pytest.approx((30 - 11.5 * 730 / 24) * 0.02, abs=0.01)
    assert "deleted after 30 days" in expiry["gives_up"]


def _batch_machine(child_type: str) -> StateMachine:
    """A machine no upload starts: a Distributed Map whose items run the helpers' DEFINITION."""
    processor = dict(DEFINITION, ProcessorConfig={"Mode": "DISTRIBUTED", "ExecutionType": child_type})
    definition = {"StartAt": "Map", "States": {"Map": {
        "Type": "Map", "End": True, "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2"},
        "ItemProcessor": processor}}}
    return StateMachine(logical_id="Batch", type="STANDARD", definition=definition, log_level="OFF",
                        include_execution_data=False, tracing=False, log_group="BatchLogs", upload_triggered=False)


@pytest.mark.parametrize("child_type, children", [
    # Express: $1 per million requests + 250 ms measured -> 0.3 s billed x 64 MB (0.0625 GB) x $0.00001667
    ("EXPRESS", 1.0 + 0.3 * 0.0625 * 0.00001667 * 1e6),
    # Standard: the costliest item path (review: Serialize, Valid?, Queue for review, Sent to review) x $0.025/1k
    ("STANDARD", 4 * 0.025 / 1000 * 1e6),
])
def test_a_distributed_map_is_priced_per_million_items_by_hand(child_type, children):
    inv = inventory(state_machines={"Machine": machine(), "Batch": _batch_machine(child_type)})
    result = estimate(inputs(inv))
    row, = [r for r in result.other_workflows if r["state_machine"] == "Batch"]
    dm = row["distributed_map"]
    assert (dm["child_execution_type"], dm["transitions_per_item"], dm["item_outcome"]) == (child_type, 4, "review")
    # per item, the review path: one F1 invocation of 100 ms at 1024 MB arm64 ($0.2 per million + 0.1 GB-s x
    # $0.00001), its measured S3 GetObject ($0.0004 per 1k), the SQS message ($0.4 per million), and 1500 B of
    # F1's logs ingested ($0.5 per GB)
    expected = {"child executions": children, "Lambda": 0.2 + 0.1 * 0.00001 * 1e6, "S3": 0.0004 / 1000 * 1e6,
                "SQS": 0.4, "CloudWatch Logs": 1500 * 1e6 / 2 ** 30 * 0.5}
    assert dm["by_component"] == pytest.approx({k: round(v, 2) for k, v in expected.items()})
    assert dm["price_per_million_items"] == pytest.approx(sum(expected.values()), abs=0.01)
    assert [r["state_machine"] for r in result.other_workflows] == ["Batch"]  # the upload machine is priced per image
