"""stacks/review_steps.py and the review functions in the workflow template: the callback task, where
failures go, the decision choice, the review functions' least privilege, and timeouts that fit together."""
from __future__ import annotations

import json

import pytest

from tests.stacks.template_helpers import iam_statements, review_table, state_machine_definition, template_of


@pytest.fixture(scope="module")
def raw(assembly):
    return template_of(assembly, "Workflow")[1]


@pytest.fixture(scope="module")
def definition(raw):
    return state_machine_definition(raw)


@pytest.fixture(scope="module")
def config(assembly):
    return assembly.config


def test_the_callback_task_waits_for_the_review_timeout_without_a_heartbeat(definition, config):
    wait = definition["States"]["Wait for review"]
    assert wait["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")
    assert wait["TimeoutSeconds"] == config.review.timeout_seconds == 24 * 3600
    assert "HeartbeatSeconds" not in wait and "HeartbeatSecondsPath" not in wait
    assert wait["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    catches = {tuple(c["ErrorEquals"]): c["Next"] for c in wait["Catch"]}
    assert catches == {("States.Timeout",): "Expire review", ("States.ALL",): "Processing failed"}


def test_the_execution_outlives_the_review_wait(definition, config):
    assert definition["TimeoutSeconds"] == config.execution_timeout_seconds
    assert definition["TimeoutSeconds"] == 24 * 3600 + config.workflow.processing_timeout_minutes * 60
    assert definition["TimeoutSeconds"] > definition["States"]["Wait for review"]["TimeoutSeconds"]


def test_every_pre_review_failure_goes_to_a_review_and_every_post_review_failure_ends(definition):
    states = definition["States"]
    before = ("Serialize image", "Classify vehicle", "Check confidence", "Publish routing event", "Quarantine image",
              "Record quarantine reason")
    after = ("Publish reviewer routing event", "Quarantine rejected image", "Record rejection", "Publish photo rejected",
             "Expire review", "Publish review expired")
    for name in before:
        assert {c["Next"] for c in states[name]["Catch"]} == {"Describe failure"}, name
    for name in after:
        assert {c["Next"] for c in states[name]["Catch"]} == {"Processing failed"}, name
    assert {c["Next"] for c in states["Open audit review"]["Catch"]} == {"Routed"}  # the driver is already routed
    assert states["Describe failure"]["Next"] == "Wait for review"


def test_reviewer_decisions_route_reject_or_fail_loudly(definition):
    choice = definition["States"]["Reviewer's decision?"]
    assert choice["Choices"][0] == {"Variable": "$.review.label", "StringEquals": "reject", "Next": "Note rejection"}
    routes = choice["Choices"][1]
    assert {c["StringEquals"] for c in routes["Or"]} == {"bicycle", "motorcycle"}
    assert routes["Next"] == "Publish reviewer routing event" and choice["Default"] == "Unknown decision"
    detail = definition["States"]["Publish reviewer routing event"]["Parameters"]["Entries"][0]["Detail"]
    assert detail["decided_by"] == "reviewer" and detail["label.$"] == "$.review.label"
    assert detail["model_label.$"] == "$.review.resume.model.label"


def statements_of(raw, role_prefix: str) -> list[dict]:
    return [s for lid, s in iam_statements(raw) if lid.startswith(role_prefix)]


@pytest.mark.parametrize("role, action", [("OpenReviewRole", "dynamodb:PutItem"),
                                          ("ExpireReviewRole", "dynamodb:UpdateItem")])
def test_each_review_function_may_do_one_thing_to_the_review_table(raw, role, action):
    table_id, _ = review_table(raw)
    dynamo = [s for s in statements_of(raw, role) if "dynamodb:" in json.dumps(s["Action"])]
    assert len(dynamo) == 1
    assert dynamo[0]["Action"] == action
    assert dynamo[0]["Resource"] == {"Fn::GetAtt": [table_id, "Arn"]}
    assert not [s for s in statements_of(raw, role) if "s3:" in json.dumps(s["Action"])]


def test_review_functions_know_the_table_timeout_and_audit_rate(raw, config):
    functions = {r["Properties"]["Handler"]: r["Properties"]["Environment"]["Variables"]
                 for r in raw["Resources"].values() if r["Type"] == "AWS::Lambda::Function"}
    table_id, _ = review_table(raw)
    opened = functions["lambdas.open_review.handler.handler"]
    assert opened["REVIEW_TABLE_NAME"] == {"Ref": table_id}
    assert opened["REVIEW_TIMEOUT_SECONDS"] == str(config.review.timeout_seconds)
    assert opened["REVIEW_RETENTION_DAYS"] == str(config.review.retention_days)
    assert functions["lambdas.expire_review.handler.handler"]["REVIEW_TABLE_NAME"] == {"Ref": table_id}
    assert functions["lambdas.check_confidence.handler.handler"]["AUDIT_SAMPLE_RATE"] == "0.02"
