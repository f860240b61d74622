"""The monitoring stack's template (from the app synthesized once per worker, session fixture
`assembly`, cdk-nag on), as fixtures for the tests of the monitoring modules, and helpers that resolve
its targets across the Fn::ImportValue boundary to the workflow stack's resources (so an alarm on the
wrong function or queue fails)."""
from __future__ import annotations

import re

import pytest
from aws_cdk.assertions import Template

from stacks.config import SconesConfig
from tests.stacks.template_helpers import template_of


FIVE_MINUTES = 300


@pytest.fixture(scope="module")
def config(assembly) -> SconesConfig:
    return assembly.config


@pytest.fixture(scope="module")
def raw(assembly):
    return template_of(assembly, "Monitoring")[1]


@pytest.fixture(scope="module")
def template(raw):
    return Template.from_json(raw)


@pytest.fixture(scope="module")
def workflow(assembly):
    return template_of(assembly, "Workflow")[1]


@pytest.fixture(scope="module")
def alarms(raw):
    """alarm name -> properties."""
    found = {r["Properties"]["AlarmName"]: r["Properties"] for r in raw["Resources"].values()
             if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert found
    return found


@pytest.fixture(scope="module")
def topic_id(raw):
    topics = [k for k, r in raw["Resources"].items() if r["Type"] == "AWS::SNS::Topic"]
    assert len(topics) == 1
    return topics[0]


@pytest.fixture(scope="module")
def drift_fn(raw):
    return logical_id(raw, "AWS::Lambda::Function", lambda p: p.get("Handler") == "lambdas.drift.handler.handler")


def logical_id(template: dict, resource_type: str, predicate=lambda props: True) -> str:
    ids = [k for k, r in template["Resources"].items()
           if r["Type"] == resource_type and predicate(r.get("Properties", {}))]
    assert len(ids) == 1, f"{resource_type}: {ids}"
    return ids[0]


def workflow_function(workflow: dict, package: str) -> str:
    return logical_id(workflow, "AWS::Lambda::Function", lambda p: p.get("Handler") == f"lambdas.{package}.handler.handler")


def imported(workflow: dict, value) -> object:
    """The workflow stack's exported value behind an Fn::ImportValue in the monitoring template."""
    assert isinstance(value, dict) and "Fn::ImportValue" in value, value
    exports = {o["Export"]["Name"]: o["Value"] for o in workflow.get("Outputs", {}).values() if "Export" in o}
    return exports[value["Fn::ImportValue"]]


def dims(props_or_metric: dict) -> dict:
    return {d["Name"]: d["Value"] for d in props_or_metric["Dimensions"]}


def metric_stats(alarm: dict) -> dict:
    """id -> MetricStat of a metric-math alarm."""
    return {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}


def expression(alarm: dict) -> str:
    exprs = [m for m in alarm["Metrics"] if "Expression" in m]
    assert len(exprs) == 1 and exprs[0].get("ReturnData", True) is True
    return exprs[0]["Expression"]


def evaluate(expr: str, values: dict[str, float]) -> float:
    """Evaluate the CloudWatch metric-math subset we use (IF, + - * /, comparisons) for one datapoint."""
    assert re.fullmatch(r"[A-Za-z0-9_ .()+\-*/<>=,]+", expr), expr
    python = expr.replace("IF(", "_if(")
    return float(eval(python, {"__builtins__": {}, "_if": lambda c, a, b: a if c else b}, dict(values)))  # noqa: S307


def render(value, workflow: dict) -> str:
    """A joined string with tokens as placeholders; imports resolved to the workflow's <Ref:...>/<GetAtt:...>."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(render(p, workflow) for p in parts)
    if "Fn::ImportValue" in value:
        return render(imported(workflow, value), workflow)
    if "Ref" in value:
        return f"<Ref:{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return f"<GetAtt:{'.'.join(value['Fn::GetAtt'])}>"
    raise AssertionError(f"unexpected token {value}")


def service_of(workflow: dict, package: str) -> str:
    fn = workflow["Resources"][workflow_function(workflow, package)]
    return fn["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
