"""The definition walker on small hand-written state machines: paths, outcomes, transitions, retries."""
from __future__ import annotations

import json

import pytest

from scones.cost.definition import DefinitionError, costliest, parse_definition, paths_by_outcome, walk

from .cost_helpers import DEFINITION


def test_each_outcome_path_and_its_transitions():
    grouped = paths_by_outcome(walk(DEFINITION))
    assert sorted(grouped) == ["failed", "review", "routed"]
    assert grouped["routed"][0].state_names == ["Serialize", "Valid?", "Routed"]
    assert grouped["routed"][0].transitions == 3
    assert grouped["review"][0].state_names == ["Serialize", "Valid?", "Queue for review", "Sent to review"]
    assert grouped["review"][0].transitions == 4


def test_a_caught_failure_counts_every_retry_at_worst():
    failed, = paths_by_outcome(walk(DEFINITION))["failed"]
    assert failed.state_names == ["Serialize", "Failed"]
    # Serialize tried 1 + MaxAttempts 2 = 3 times, then Failed: 4 transitions; without retries 2.
    assert failed.transitions == 4
    assert failed.min_transitions == 2
    assert failed.steps[0].failed and failed.steps[0].attempts == 3


def test_a_retrier_without_max_attempts_means_three_retries():
    definition = {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True,
              "Retry": [{"ErrorEquals": ["States.ALL"]}], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}]},
        "F": {"Type": "Fail"}}}
    failed, = paths_by_outcome(walk(definition))["failed"]
    assert failed.transitions == 1 + 3 + 1


def test_parallel_counts_every_branch_and_inline_map_one_item():
    definition = {"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "M", "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}},
            {"StartAt": "C", "States": {"C": {"Type": "Succeed"}}}]},
        "M": {"Type": "Map", "End": True, "ItemProcessor": {
            "StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Y"}, "Y": {"Type": "Pass", "End": True}}}}}}
    path, = walk(definition)
    # P itself 1 + branch A,B 2 + branch C 1; M itself 1 + one item X,Y 2.
    assert path.transitions == 4 + 3


def test_distributed_map_items_are_child_executions_not_parent_transitions():
    definition = {"StartAt": "Each object", "States": {
        "Each object": {"Type": "Map", "Next": "Summary", "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2"},
                        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                                          "StartAt": "Classify", "States": {
                                              "Classify": {"Type": "Task", "Resource": "${GetAtt:Fn.Arn}", "Next": "Done"},
                                              "Done": {"Type": "Pass", "Parameters": {"outcome": "routed"}, "End": True}}}},
        "Summary": {"Type": "Succeed"}}}
    path, = walk(definition)
    map_step = path.steps[0]
    assert map_step.distributed and map_step.child_execution_type == "EXPRESS"
    assert path.transitions == 2
    assert costliest(list(map_step.item_paths)).transitions == 2
    assert map_step.item_paths[0].outcome == "routed"


def test_a_loop_is_cut_after_one_pass_and_flagged():
    definition = {"StartAt": "Wait", "States": {
        "Wait": {"Type": "Wait", "Seconds": 5, "Next": "Done?"},
        "Done?": {"Type": "Choice", "Choices": [{"Variable": "$.done", "BooleanEquals": True, "Next": "End"}],
                  "Default": "Wait"},
        "End": {"Type": "Succeed"}}}
    paths = walk(definition)
    assert [p.has_loop for p in paths] == [False, True]
    assert paths[0].transitions == 3


def test_parse_definition_resolves_tokens_to_placeholders():
    synthesized = {"Fn::Join": ["", ['{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"',
                                     {"Fn::GetAtt": ["MyFn", "Arn"]}, '","Parameters":{"Q":"',
                                     {"Ref": "MyQueue"}, '"},"End":true}}}']]}
    definition = parse_definition(synthesized)
    assert definition["States"]["A"]["Resource"] == "${GetAtt:MyFn.Arn}"
    assert definition["States"]["A"]["Parameters"]["Q"] == "${Ref:MyQueue}"


@pytest.mark.parametrize("broken, message", [
    ({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}, "'Nowhere', which is not a state"),
    ({"StartAt": "B", "States": {"A": {"Type": "Succeed"}}}, "StartAt 'B' is not a state"),
    ({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}, "neither Next nor End"),
])
def test_broken_definitions_are_named(broken, message):
    with pytest.raises(DefinitionError, match=message):
        walk(broken)


def test_a_definition_that_is_not_json_is_refused():
    with pytest.raises(DefinitionError, match="not JSON"):
        parse_definition({"Fn::Join": ["", ["{not json", {"Ref": "X"}]]})
    with pytest.raises(DefinitionError, match="no StartAt"):
        parse_definition(json.dumps({"States": {}}))
