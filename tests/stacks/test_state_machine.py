"""state_machine: the image-routing definition (retries, catches, typed outcome tasks, the routing event)."""

import pytest

from tests.stacks.template_helpers import state_machine_definition, template_of


@pytest.fixture(scope="module")
def raw(assembly):
    return template_of(assembly, "Workflow")[1]


@pytest.fixture(scope="module")
def definition(raw):
    return state_machine_definition(raw)


def test_every_task_has_retry_and_catch(definition):
    tasks = {name: s for name, s in definition["States"].items() if s["Type"] == "Task"}
    assert set(tasks) == {"Serialize image", "Classify vehicle", "Check confidence", "Publish routing event",
                          "Route to review", "Quarantine image", "Record quarantine reason",
                          "Report failure to review"}
    for name, state in tasks.items():
        assert state.get("Retry"), f"{name} has no Retry"
        assert state.get("Catch"), f"{name} has no Catch"
        for retry in state["Retry"]:
            assert retry["BackoffRate"] >= 2 and retry["JitterStrategy"] == "FULL"


def test_endpoint_throttling_and_5xx_are_retried_with_backoff(definition):
    retries = definition["States"]["Classify vehicle"]["Retry"]
    endpoint = next(r for r in retries if "EndpointThrottledError" in r["ErrorEquals"])
    assert set(endpoint["ErrorEquals"]) == {"EndpointThrottledError", "EndpointUnavailableError"}
    assert endpoint["MaxAttempts"] == 3 and endpoint["IntervalSeconds"] == 2


def test_outcomes_are_typed_tasks(definition):
    states = definition["States"]
    assert states["Publish routing event"]["Resource"].endswith(":states:::events:putEvents")
    assert states["Route to review"]["Resource"].endswith(":states:::sqs:sendMessage")
    assert states["Quarantine image"]["Resource"].endswith(":states:::aws-sdk:s3:copyObject")
    assert states["Processing failed"] == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}
    assert states["Valid image?"]["Choices"][0] == {"Variable": "$.image.valid", "BooleanEquals": True,
                                                    "Next": "Classify vehicle"}
    assert states["Confident enough?"]["Choices"][0]["Variable"] == "$.decision.confident"


def test_routing_event_carries_business_fields(definition):
    entry = definition["States"]["Publish routing event"]["Parameters"]["Entries"][0]
    assert entry["DetailType"] == "Vehicle Classified"
    assert set(entry["Detail"]) >= {"key.$", "label.$", "confidence.$", "model_version.$", "idempotency_key.$"}
