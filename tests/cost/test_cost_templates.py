"""The cost model on the real synthesized templates: paths of the real definition (checked against
executions in moto), config knobs changed through context, resources other stacks will add."""
from __future__ import annotations

import copy
import json

import pytest

from scones.cost.config_view import bucket_layout
from scones.cost.definition import walk
from scones.cost.estimate import estimate
from scones.cost.inventory import read_inventory
from scones.cost.measurements import load_measurements
from scones.cost.model import CostInputs
from scones.cost.prices import load_prices
from scones.cost.usage import paths_by_priced_outcome, pricing_path

# The image outcomes, and `duplicate`: the path of an execution refused by the delivery claim.
OUTCOMES = {"routed", "review", "quarantined", "review_expired", "failed", "duplicate"}


def cost_inputs(assembly, images_per_day: float = 100_000, templates=None) -> CostInputs:
    return CostInputs(inventory=read_inventory(templates or assembly.templates), measurements=load_measurements(),
                      prices=load_prices().region("us-east-1"), images_per_day=images_per_day,
                      layout=bucket_layout(assembly.config))


def test_every_outcome_of_the_upload_workflow_has_a_path(assembly):
    machine = read_inventory(assembly.templates).upload_machine()
    grouped = paths_by_priced_outcome(walk(machine.definition))
    assert set(grouped) == OUTCOMES
    states = machine.definition["States"]
    for paths in grouped.values():
        for path in paths:  # each step is a real state and the next one is one of its successors
            for step, following in zip(path.steps, path.steps[1:]):
                state = states[step.name]
                successors = {state.get("Next"), state.get("Default")} | {c["Next"] for c in state.get("Choices", [])} \
                    | {c["Next"] for c in state.get("Catch", [])}
                assert following.name in successors, (step.name, following.name)
    for outcome in ("routed", "review", "quarantined"):
        priced = pricing_path(outcome, grouped[outcome])
        assert priced.transitions == priced.min_transitions, outcome  # no retry on a success
        assert priced.state_names[0] == "Claim delivery"
    duplicate, = grouped["duplicate"]
    assert duplicate.state_names == ["Claim delivery", "Duplicate delivery"]
    # routed: with and without the audit item; review: routed by the reviewer, or rejected
    assert {p.state_names[-1] for p in grouped["review"]} == {"Routed by reviewer", "Rejected by reviewer"}
    assert pricing_path("review", grouped["review"]).state_names[-1] == "Rejected by reviewer"
    assert "Open audit review" in pricing_path("routed", grouped["routed"]).state_names
    assert all("Wait for review" in p.state_names for p in grouped["review_expired"])


def test_walked_transitions_match_executions_of_the_synthesized_machine(tiny_model_path, tmp_path, assembly):
    """`scones.cost.measure` runs images through the synthesized machine in moto; the states each
    execution entered are what the walker counts for its outcome."""
    from scones.cost.measure import measure

    document = measure(tiny_model_path, per_class=2, workdir=tmp_path)
    (tmp_path / "measurements.json").write_text(json.dumps(document))
    loaded = load_measurements(tmp_path / "measurements.json")
    grouped = paths_by_priced_outcome(walk(read_inventory(assembly.templates).upload_machine().definition))
    assert {"review", "quarantined"} <= set(document["executions"]) or \
        {"routed", "quarantined"} <= set(document["executions"])
    for outcome, measured in document["executions"].items():
        walked = {p.min_transitions for p in grouped[outcome] if not any(s.failed for s in p.steps)}
        assert set(measured["states_entered"]) <= walked, (outcome, measured["states_entered"], walked)
    assert document["images"]["files"] == sum(document["images"]["outcomes"].values())
    serialize = document["functions"]["lambdas.serialize.handler.handler"]
    assert serialize["count"] == document["images"]["files"]
    assert serialize["aws_calls_per_invocation"].get("s3:HeadObject", 0) >= 1  # it reads the upload
    classify = document["functions"]["lambdas.classify.handler.handler"]
    assert classify["aws_calls_per_invocation"] == {"sagemaker-runtime:InvokeEndpoint": 1.0}
    assert document["capture"]["records"] == classify["count"]  # 100 % sampling locally
    assert loaded.outcome_shares()["routed"] + loaded.outcome_shares()["review"] == pytest.approx(1)


def test_the_committed_measurement_covers_every_function_of_the_upload_workflow(assembly):
    inventory = read_inventory(assembly.templates)
    result = estimate(cost_inputs(assembly))
    invoked = {fn for row in result.outcomes.values() for fn in row["lambda_invocations"]}
    measurements = load_measurements()
    assert invoked, "the upload workflow invokes Lambda functions"
    for fn_id in invoked:
        assert measurements.duration_ms(inventory.functions[fn_id].handler) is not None, fn_id
    assert not [w for w in result.warnings if "no measured duration" in w and "scheduled" not in w]


def test_the_delivery_claims_table_is_priced_per_image_and_a_review_table_by_review_item(assembly):
    """Every execution claims its delivery once (one write per image); the claims expire, so they are
    stored for days, not kept. The review table keeps its own assumptions (per review item) and does
    not take the claims' writes."""
    inputs = cost_inputs(assembly)
    per_month = inputs.images_per_day * 730 / 24
    base = estimate(inputs)
    claims_id, = (t.logical_id for t in inputs.inventory.tables if t.logical_id.startswith("DeliveryClaims"))
    writes = next(i for i in base.items if i.item == f"{claims_id} writes (on demand)")
    assert writes.quantity == pytest.approx(per_month) and "per image" in writes.basis
    stored = next(i for i in base.items if i.item == f"{claims_id} storage")
    assert stored.quantity == pytest.approx(per_month / 730 * 24 * 3.0 * 300 / 2**30, rel=0.01)

    # The review table (the workflow's, written by open_review; no definition task writes it) is priced
    # per review item, not per image, and does not take the claims' writes.
    review_id, = (t.logical_id for t in inputs.inventory.tables if t.logical_id.startswith("ReviewTable"))
    review_writes = next(i for i in base.items if i.item == f"{review_id} writes (on demand)")
    review_share = base.outcomes["review"]["share"] + base.outcomes["failed"]["share"]
    assert "per review item" in review_writes.basis
    assert review_writes.quantity >= per_month * review_share * 2
    assert next(i for i in base.items if i.item == f"{review_id} storage").basis.endswith("per review item, kept")


@pytest.fixture(scope="module")
def knobbed(tmp_path_factory):
    from scones.local.cloud_assembly import synthesize

    return synthesize(tmp_path_factory.mktemp("cdk.out"), context={
        "data_capture_sampling_percentage": "10", "endpoint_instance_type": "ml.c5.large", "audit_sample_rate": "0.5"})


def test_the_audit_sample_rate_in_the_template_weights_the_audited_routed_images(assembly, knobbed):
    """Routed images are priced without the audit item except for the audited share, which is the
    decision function's AUDIT_SAMPLE_RATE as synthesized (0.02 by default, 0.5 through context)."""
    base, changed = estimate(cost_inputs(assembly)), estimate(cost_inputs(knobbed))
    plain, audited = base.outcomes["routed"], base.outcomes["routed"]["audited"]
    assert audited["share_of_outcome"] == pytest.approx(0.02)
    assert changed.outcomes["routed"]["audited"]["share_of_outcome"] == pytest.approx(0.5)
    assert "Open audit review" in audited["states"] and "Open audit review" not in plain["states"]
    extra = audited["transitions"] - plain["transitions"]
    assert extra >= 1
    routed_per_month = plain["share"] * base.images_per_month
    transitions = lambda e: next(i.quantity for i in e.items if i.item == "Standard state transitions")  # noqa: E731
    assert transitions(changed) - transitions(base) == pytest.approx(routed_per_month * (0.5 - 0.02) * extra)
    open_review = next(fn for fn, n in base.outcomes["review"]["lambda_invocations"].items() if fn.startswith("OpenReview"))
    assert base.outcomes["routed"]["lambda_invocations"][open_review] == pytest.approx(0.02)
    assert changed.outcomes["routed"]["lambda_invocations"][open_review] == pytest.approx(0.5)


def test_capture_sampling_and_instance_type_from_context_change_the_estimate(assembly, knobbed):
    base, changed = estimate(cost_inputs(assembly)), estimate(cost_inputs(knobbed))
    assert base.endpoint["capture_percent"] == 100 and changed.endpoint["capture_percent"] == 10
    assert changed.endpoint["capture_gb_per_month"] == pytest.approx(base.endpoint["capture_gb_per_month"] / 10)
    hours = {i.item: i for i in changed.items if i.component == "SageMaker endpoint"}
    assert hours["ml.c5.large instance-hours"].unit_price == load_prices().region("us-east-1").instance_hour("ml.c5.large")
    assert not any(i.item.startswith("ml.m5.large") for i in changed.items)
    capture = lambda e: sum(i.monthly for i in e.items if i.item.startswith("captured traffic"))  # noqa: E731
    assert capture(changed) == pytest.approx(capture(base) / 10)


def test_resources_other_stacks_will_add_are_picked_up_by_type(assembly):
    """A review table, an HTTP API with Cognito and a Distributed Map batch machine, as they will land."""
    base = estimate(cost_inputs(assembly))
    templates = copy.deepcopy(assembly.templates)
    classify = next(k for k, (_, r) in _functions(templates).items() if r["Properties"]["Handler"].startswith("lambdas.classify."))
    batch = {"StartAt": "Each object", "States": {"Each object": {
        "Type": "Map", "End": True, "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Classify", "States": {
                              "Classify": {"Type": "Task", "Resource": "${GetAtt:%s.Arn}" % classify, "Next": "Done"},
                              "Done": {"Type": "Pass", "Parameters": {"outcome": "routed"}, "End": True}}}}}}
    templates["SconesReview"] = {"Resources": {
        "ReviewTable": {"Type": "AWS::DynamoDB::Table", "Properties": {"BillingMode": "PAY_PER_REQUEST"}},
        "ReviewApi": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "HTTP"}},
        "Reviewers": {"Type": "AWS::Cognito::UserPool", "Properties": {}},
        "Batch": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {"DefinitionString": json.dumps(batch)}},
    }}
    grown = estimate(cost_inputs(assembly, templates=templates))
    components = grown.by_component()
    assert {"DynamoDB", "API Gateway", "Cognito"} <= set(components)
    assert grown.monthly_total > base.monthly_total
    row = next(r for r in grown.other_workflows if r["state_machine"] == "Batch")
    assert row["distributed_map"]["transitions_per_item"] == 2
    assert row["distributed_map"]["price_per_million_items"] > 2 * 1e6 * 0.025 / 1000  # transitions + Lambda
    upload = lambda e: [i.monthly for i in e.items if i.component == "Step Functions"]  # noqa: E731
    assert upload(grown) == upload(base)  # the batch machine is not started per upload


def _functions(templates):
    return {k: (s, r) for s, t in templates.items() for k, r in t["Resources"].items()
            if r["Type"] == "AWS::Lambda::Function"}

