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
    assert set(tasks) == {"Claim delivery", "Serialize image", "Classify vehicle", "Check confidence",
                          "Publish routing event", "Open audit review", "Wait for review", "Publish reviewer routing event",
                          "Quarantine rejected image", "Record rejection", "Publish photo rejected", "Expire review",
                          "Publish review expired", "Quarantine image", "Record quarantine reason"}
    for name, state in tasks.items():
        assert state.get("Retry"), f"{name} has no Retry"
        assert state.get("Catch"), f"{name} has no Catch"
        for retry in state["Retry"]:
            assert retry["BackoffRate"] >= 2 and retry["JitterStrategy"] == "FULL"


def test_the_first_step_claims_the_object_version_once(definition, raw, assembly):
    """A conditional put keyed by the object version, expiring after delivery_claim_ttl_hours; a
    refused claim ends as `duplicate` before anything is read, and nothing else is caught as one."""
    assert definition["StartAt"] == "Claim delivery"
    claim = definition["States"]["Claim delivery"]
    assert claim["QueryLanguage"] == "JSONata" and claim["Resource"].endswith(":states:::dynamodb:putItem")
    arguments = claim["Arguments"]
    table_id, = (k for k, r in raw["Resources"].items()
                 if r["Type"] == "AWS::DynamoDB::Table" and k.startswith("DeliveryClaims"))
    assert arguments["TableName"] == f"<Ref:{table_id}>"
    assert "$states.input.key & '#'" in arguments["Item"]["object_version"]["S"]
    assert "$states.input.version_id" in arguments["Item"]["object_version"]["S"]
    ttl_seconds = assembly.config.workflow.delivery_claim_ttl_hours * 3600
    assert arguments["Item"]["expires_at"]["N"].endswith(f"+ {ttl_seconds}) %}}")
    # The claim is this execution's own on a retry (a lost response), anyone else's refusal otherwise.
    assert arguments["ConditionExpression"] == "attribute_not_exists(object_version) OR execution_id = :me"
    assert claim["Output"] == "{% $states.input %}"
    duplicate, failure = claim["Catch"]
    assert duplicate["ErrorEquals"] == ["DynamoDB.ConditionalCheckFailedException"]
    assert duplicate["Next"] == "Duplicate delivery" and failure["Next"] == "Describe failure"
    assert all("ConditionalCheckFailed" not in " ".join(r["ErrorEquals"]) for r in claim["Retry"])
    assert definition["States"]["Duplicate delivery"]["Parameters"]["outcome"] == "duplicate"
    assert definition["States"]["Duplicate delivery"]["End"] is True
    assert claim["Next"] == "Serialize image"



def test_endpoint_throttling_and_5xx_are_retried_with_backoff(definition):
    retries = definition["States"]["Classify vehicle"]["Retry"]
    endpoint = next(r for r in retries if "EndpointThrottledError" in r["ErrorEquals"])
    assert set(endpoint["ErrorEquals"]) == {"EndpointThrottledError", "EndpointUnavailableError"}
    assert endpoint["MaxAttempts"] == 3 and endpoint["IntervalSeconds"] == 2


def test_outcomes_are_typed_tasks(definition):
    states = definition["States"]
    assert states["Publish routing event"]["Resource"].endswith(":states:::events:putEvents")
    assert states["Wait for review"]["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")
    assert states["Quarantine rejected image"]["Resource"].endswith(":states:::aws-sdk:s3:copyObject")
    assert states["Quarantine image"]["Resource"].endswith(":states:::aws-sdk:s3:copyObject")
    assert states["Processing failed"] == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}
    assert states["Valid image?"]["Choices"][0] == {"Variable": "$.image.valid", "BooleanEquals": True,
                                                    "Next": "Classify vehicle"}
    assert states["Confident enough?"]["Choices"][0]["Variable"] == "$.decision.confident"


def test_routing_event_carries_business_fields(definition):
    entry = definition["States"]["Publish routing event"]["Parameters"]["Entries"][0]
    assert entry["DetailType"] == "Vehicle Classified"
    assert set(entry["Detail"]) >= {"key.$", "label.$", "confidence.$", "model_version.$", "idempotency_key.$"}
