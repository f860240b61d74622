"""batch_workflow / batch_state_machine: the batch-reclassification machine in the workflow stack
(snapshot of its resources, the Distributed Map as configured, least-privilege grants, logs and tracing)."""
import json

import pytest

from scones.local.cloud_assembly import synthesize
from scones_contracts.batch import BATCH_MACHINE_SUFFIX
from scones_contracts.events import ROUTING_EVENT_FIELDS
from tests.conftest import mask_asset_hashes
from tests.stacks.template_helpers import flatten_join, iam_statements, state_machine, state_machine_definition, template_of


@pytest.fixture(scope="module")
def raw(assembly):
    return template_of(assembly, "Workflow")[1]


@pytest.fixture(scope="module")
def machine(raw):
    return state_machine(raw, BATCH_MACHINE_SUFFIX)


@pytest.fixture(scope="module")
def definition(raw):
    return state_machine_definition(raw, BATCH_MACHINE_SUFFIX)


@pytest.fixture(scope="module")
def reclassify(definition):
    return definition["States"]["Reclassify objects"]


def batch_resources(raw) -> dict:
    """The resources the batch construct adds (the definition parsed, for a readable snapshot)."""
    found = {k: r for k, r in raw["Resources"].items() if k.startswith(("BatchReclassification", "BatchSummary"))}
    machine = next(r for r in found.values() if r["Type"] == "AWS::StepFunctions::StateMachine")
    machine = {**machine, "Properties": {**machine["Properties"],
                                         "DefinitionString": json.loads(flatten_join(machine["Properties"]["DefinitionString"]))}}
    return {**found, **{k: machine for k, r in found.items() if r["Type"] == "AWS::StepFunctions::StateMachine"}}


def test_snapshot_of_the_batch_resources(raw, snapshot):
    assert mask_asset_hashes(batch_resources(raw)) == snapshot


def test_a_distributed_map_over_the_requested_prefix_with_express_children(reclassify):
    assert reclassify["Type"] == "Map"
    assert reclassify["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    reader = reclassify["ItemReader"]
    assert reader["Resource"].endswith(":states:::s3:listObjectsV2")
    assert reader["Parameters"]["Prefix.$"] == "$.prefix"
    assert reader["Parameters"]["Bucket"].startswith("scones-data-")
    writer = reclassify["ResultWriter"]
    assert writer["Resource"].endswith(":states:::s3:putObject")
    assert writer["Parameters"]["Bucket"] == reader["Parameters"]["Bucket"]
    assert writer["Parameters"]["Prefix.$"] == "States.Format('batch-results/{}/', $$.Execution.Name)"
    assert reclassify["ItemSelector"]["key.$"] == "$$.Map.Item.Value.Key"
    assert reclassify["ItemSelector"]["publish_routing_events.$"] == "$.publish_routing_events"


def test_concurrency_and_tolerated_failures_come_from_the_config(reclassify, tmp_path_factory):
    assert (reclassify["MaxConcurrency"], reclassify["ToleratedFailurePercentage"]) == (10, 5)
    tuned = synthesize(tmp_path_factory.mktemp("tuned"), context={
        "batch_max_concurrency": "250", "batch_tolerated_failure_percentage": "12.5", "batch_log_level": "ALL"})
    raw = template_of(tuned, "Workflow")[1]
    tuned_map = state_machine_definition(raw, BATCH_MACHINE_SUFFIX)["States"]["Reclassify objects"]
    assert (tuned_map["MaxConcurrency"], tuned_map["ToleratedFailurePercentage"]) == (250, 12.5)
    assert state_machine(raw, BATCH_MACHINE_SUFFIX)[1]["Properties"]["LoggingConfiguration"]["Level"] == "ALL"


def test_every_object_goes_through_the_same_three_functions(definition, raw):
    states = definition["States"]["Reclassify objects"]["ItemProcessor"]["States"]
    functions = {name: s["Resource"] for name, s in states.items() if s["Type"] == "Task" and "GetAtt" in s["Resource"]}
    upload = state_machine_definition(raw)["States"]
    assert functions == {name: upload[name]["Resource"] for name in ("Serialize image", "Classify vehicle",
                                                                     "Check confidence")}
    # No catch inside an object: a failure fails its child execution, which the map run counts.
    assert not any("Catch" in s for s in states.values())
    assert states["Classify vehicle"]["Retry"][1]["ErrorEquals"] == ["EndpointThrottledError", "EndpointUnavailableError"]


def test_routing_events_only_when_asked_and_never_review_or_claims(definition):
    states = definition["States"]["Reclassify objects"]["ItemProcessor"]["States"]
    ask = states["Publish requested?"]
    assert ask["Choices"] == [{"Variable": "$.publish_routing_events", "BooleanEquals": True,
                               "Next": "Publish routing event"}]
    assert ask["Default"] == "Routed without event"
    detail = states["Publish routing event"]["Parameters"]["Entries"][0]["Detail"]
    assert {k.removesuffix(".$") for k in detail} == set(ROUTING_EVENT_FIELDS)
    integrations = {s["Resource"].rsplit(":::", 1)[-1] for s in states.values()
                    if s["Type"] == "Task" and ":::" in s["Resource"]}
    assert integrations == {"events:putEvents", "aws-sdk:s3:copyObject", "aws-sdk:s3:putObject"}
    everything = json.dumps(definition)
    assert "sqs:" not in everything and "dynamodb" not in everything.lower()  # no review queue, no claim table


def test_a_bad_request_is_refused_by_the_first_state(definition):
    assert definition["StartAt"] == "Valid request?"
    condition = json.dumps(definition["States"]["Valid request?"]["Choices"][0])
    for expected in ('"StringMatches": "incoming/*"', '"StringMatches": "backlog/*"', '"IsBoolean": true'):
        assert expected in condition
    refused = definition["States"]["Invalid request"]
    assert refused["Type"] == "Fail" and refused["Error"] == "InvalidBatchRequest" and "backlog/" in refused["Cause"]


def test_the_map_failing_still_summarizes_then_fails(definition, reclassify):
    assert reclassify["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.map_error", "Next": "Map run failed"}]
    assert definition["States"]["Map run failed"]["Next"] == "Summarize batch"
    assert definition["States"]["Batch failed"] == {"Type": "Fail", "Error": "BatchFailed", "CausePath": "$.failure"}


def test_standard_parent_traced_and_logged(machine):
    _, resource = machine
    props = resource["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ERROR"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is True
    assert json.loads(flatten_join(props["DefinitionString"]))["TimeoutSeconds"] == 24 * 3600


def _s3_grants(raw, role_prefix: str) -> dict[str, set[str]]:
    """action -> the resources (rendered) a role's policies grant it on S3, with ListBucket's prefixes."""
    grants: dict[str, set[str]] = {}
    for logical_id, statement in iam_statements(raw):
        if not logical_id.startswith(role_prefix):
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in (a for a in actions if a.startswith("s3:")):
            shown = {flatten_join(r).rsplit("<Ref:AWS::Region>", 1)[-1] for r in resources}
            if action == "s3:ListBucket":
                shown = {f"prefix {p}" for p in statement["Condition"]["StringLike"]["s3:prefix"]}
            grants.setdefault(action, set()).update(shown)
    return grants


def test_the_machine_reads_lists_and_writes_only_its_prefixes(raw):
    grants = _s3_grants(raw, "BatchReclassificationStateMachineRole")
    assert grants["s3:ListBucket"] == {"prefix incoming/*", "prefix backlog/*"}
    assert grants["s3:GetObject"] == {"/incoming/*", "/backlog/*", "/batch-results/*"}
    assert grants["s3:PutObject"] == {"/quarantine/*", "/batch-results/*"}
    assert not any("Tagging" in action for action in grants)  # the quarantine copy replaces the tags
    assert all(r != "*" and not r.endswith(":s3:::*") for rs in grants.values() for r in rs)


def test_the_summary_function_touches_only_the_results(raw):
    grants = _s3_grants(raw, "BatchSummaryRole")
    assert grants == {"s3:GetObject": {"/batch-results/*"}, "s3:PutObject": {"/batch-results/*"},
                      "s3:ListBucket": {"prefix batch-results/*"}}


def test_the_machine_starts_only_its_own_children(raw, machine):
    logical_id, _ = machine
    states_actions = [(s["Action"], json.dumps(s["Resource"])) for lid, s in iam_statements(raw)
                      if lid.startswith("BatchReclassificationStateMachine") and "states:" in json.dumps(s["Action"])]
    assert states_actions and all(logical_id in resource for _, resource in states_actions)


def test_output_names_the_machine(raw):
    outputs = raw["Outputs"]
    arn = next(o for k, o in outputs.items() if k.startswith("BatchStateMachineArn"))
    assert arn["Value"] == {"Ref": state_machine(raw, BATCH_MACHINE_SUFFIX)[0]}
