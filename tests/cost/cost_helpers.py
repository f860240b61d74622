"""Small, explicit inputs for the cost model's unit tests: numbers chosen so results are hand-computable.

24 images a day is 730 a month (a month is 730 hours), so monthly quantities are 730 x per-image ones.
"""
from __future__ import annotations

import copy

from scones.cost.inventory import Endpoint, Function, Inventory, StateMachine
from scones.cost.measurements import Measurements
from scones.cost.model import BucketLayout, CostInputs
from scones.cost.prices import Prices
from scones.cost.usage import Assumptions

IMAGES_PER_DAY = 24  # -> 730 images a month
LAYOUT = BucketLayout(incoming="incoming/", quarantine="quarantine/", capture="datacapture/")

# Serialize (Lambda F1) -> Valid? -> routed (Pass) | Queue for review (sqs) -> review (Pass); F1 errors -> Failed.
DEFINITION = {
    "StartAt": "Serialize",
    "States": {
        "Serialize": {"Type": "Task", "Resource": "${GetAtt:F1.Arn}", "Next": "Valid?",
                      "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
                      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}]},
        "Valid?": {"Type": "Choice", "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Routed"}],
                   "Default": "Queue for review"},
        "Routed": {"Type": "Pass", "Parameters": {"outcome": "routed"}, "End": True},
        "Queue for review": {"Type": "Task", "Resource": "arn:${Ref:AWS::Partition}:states:::sqs:sendMessage",
                             "Parameters": {"QueueUrl": "q"}, "Next": "Sent to review"},
        "Sent to review": {"Type": "Pass", "Parameters": {"outcome": "review"}, "End": True},
        "Failed": {"Type": "Fail"},
    },
}

MEASUREMENT = {
    "measured_on": "2026-01-01", "what": "hand-made for tests", "machine": {"cpus": 2},
    "images": {"outcomes": {"routed": 3, "review": 1, "quarantined": 0, "failed": 0}},
    "functions": {"f1.handler": {"billed_mean_ms": 100.0, "aws_calls_per_invocation": {"s3:GetObject": 1.0},
                                 "log_bytes_per_invocation": 1000.0, "log_lines_per_invocation": 2.0}},
    "executions": {"routed": {"duration_ms_mean": 250.0, "history_events_mean": 10.0, "history_bytes_mean": 5000.0},
                   "review": {"duration_ms_mean": 250.0, "history_events_mean": 10.0, "history_bytes_mean": 5000.0}},
    "model_latency": {"mean_ms": 50.0},
    "capture": {"records": 4, "record_bytes_mean": 1000.0, "request_bytes_mean": 700.0, "response_bytes_mean": 40.0},
    "metric_series": ["NS/Count{service=f1}"],
}

PRICES = {
    "stepfunctions": {"standard_per_1k_transitions": 0.025, "express_per_million_requests": 1.0,
                      "express_per_gb_second": 0.00001667},
    "lambda": {"per_million_requests": 0.2, "per_gb_second": {"arm64": 0.00001, "x86_64": 0.00002}},
    "sagemaker": {"instance_hour": {"ml.m5.large": 0.1}, "serverless_per_gb_second": 0.00002,
                  "data_processed_in_per_gb": 0.016, "data_processed_out_per_gb": 0.016},
    "s3": {"standard_gb_month": 0.02, "standard_ia_gb_month": 0.01, "put_per_1k": 0.005, "get_per_1k": 0.0004,
           "lifecycle_transition_per_1k": 0.01},
    "cloudwatch": {"logs_ingest_per_gb": 0.5, "logs_store_gb_month": 0.03, "metric_month": 0.3,
                   "alarm_metric_month": 0.1, "alarm_high_resolution_metric_month": 0.3, "composite_alarm_month": 0.5,
                   "dashboard_month": 3.0},
    "xray": {"per_million_traces_recorded": 5.0},
    "eventbridge": {"per_million_custom_events": 1.0},
    "sqs": {"per_million_requests": 0.4},
    "kms": {"key_month": 1.0, "per_10k_requests": 0.03},
    "dynamodb": {"on_demand_per_million_write_units": 1.0, "on_demand_per_million_read_units": 0.2,
                 "storage_gb_month": 0.25, "provisioned_wcu_hour": 0.001, "provisioned_rcu_hour": 0.0002},
    "apigateway": {"http_per_million": 1.0, "rest_per_million": 3.5},
    "cognito": {"per_mau": 0.0055},
}


def machine(kind: str = "STANDARD", log_level: str = "OFF", tracing: bool = False) -> StateMachine:
    return StateMachine(logical_id="Machine", type=kind, definition=copy.deepcopy(DEFINITION), log_level=log_level,
                        include_execution_data=True, tracing=tracing, log_group="MachineLogs", upload_triggered=True)


def inventory(**changes) -> Inventory:
    inv = Inventory(
        functions={"F1": Function("F1", "f1.handler", memory_mb=1024, architecture="arm64", timeout_s=30,
                                  tracing=False, log_group="F1Logs")},
        state_machines={"Machine": machine()},
        log_retention_days={"F1Logs": 30, "MachineLogs": 30},
    )
    for key, value in changes.items():
        setattr(inv, key, value)
    return inv


def endpoint(**changes) -> Endpoint:
    values = dict(config_id="Config", instance_type="ml.m5.large", initial_instance_count=1, serverless_memory_mb=None,
                  capture_percent=100, min_capacity=1, max_capacity=4, target_invocations_per_instance_minute=600.0)
    values.update(changes)
    return Endpoint(**values)


def inputs(inv: Inventory | None = None, images_per_day: float = IMAGES_PER_DAY, **assumptions) -> CostInputs:
    defaults = dict(quarantined_share=0.0, failed_share=0.0)
    defaults.update(assumptions)
    return CostInputs(inventory=inv or inventory(), measurements=Measurements(copy.deepcopy(MEASUREMENT), "test"),
                      prices=Prices("test-region", copy.deepcopy(PRICES)), images_per_day=images_per_day,
                      layout=LAYOUT, assumptions=Assumptions(**defaults))


def item(estimate, component: str, name: str):
    matches = [i for i in estimate.items if i.component == component and i.item == name]
    assert len(matches) == 1, f"{component}/{name} not exactly once in {[(i.component, i.item) for i in estimate.items]}"
    return matches[0]
