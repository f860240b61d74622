"""Helpers to read synthesized templates in assertions."""
from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Template


def template_of(assembly, suffix: str) -> tuple[str, dict[str, Any]]:
    for name, template in assembly.templates.items():
        if name.endswith(suffix):
            return name, template
    raise KeyError(f"no stack ending in {suffix!r} among {list(assembly.templates)}")


def cdk_template(assembly, suffix: str) -> Template:
    return Template.from_json(template_of(assembly, suffix)[1])


def flatten_join(value: Any) -> str:
    """Render an Fn::Join'ed string with each token shown as <Ref>/<GetAtt> placeholders."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(flatten_join(p) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<Ref:{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<GetAtt:{'.'.join(value['Fn::GetAtt'])}>"
    return json.dumps(value)


def state_machine(template: dict[str, Any], name_suffix: str = "image-routing") -> tuple[str, dict[str, Any]]:
    """(logical id, resource) of the state machine named `<project>-<name_suffix>`: the upload workflow
    by default (the workflow stack also holds the batch machine, `scones_contracts.batch.BATCH_MACHINE_SUFFIX`)."""
    machines = [(k, r) for k, r in template["Resources"].items() if r["Type"] == "AWS::StepFunctions::StateMachine"
                and str(r["Properties"].get("StateMachineName", "")).endswith(f"-{name_suffix}")]
    assert len(machines) == 1, [k for k, _ in machines]
    return machines[0]


def state_machine_definition(template: dict[str, Any], name_suffix: str = "image-routing") -> dict[str, Any]:
    return json.loads(flatten_join(state_machine(template, name_suffix)[1]["Properties"]["DefinitionString"]))


def review_table(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(logical id, resource) of the workflow template's review table."""
    (found,) = [(k, r) for k, r in template["Resources"].items()
                if r["Type"] == "AWS::DynamoDB::Table" and k.startswith("ReviewTable")]
    return found


def iam_statements(template: dict[str, Any]):
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                yield logical_id, statement
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield logical_id, statement
