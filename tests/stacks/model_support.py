"""The model stack synthesized once per test worker (whole app, cdk-nag on: synthesis itself fails on
any unacknowledged finding), as fixtures for the tests of the model stack's modules, and helpers to
read its template."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from stacks.app_builder import build_app
from stacks.config import SconesConfig
from tests.stacks.template_helpers import flatten_join, iam_statements


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    app = App(outdir=str(tmp_path_factory.mktemp("model-stack-cdk.out")))
    scones = build_app(app)
    assembly = app.synth()  # cdk-nag AwsSolutions runs here and fails synthesis on any finding
    raw = assembly.get_stack_by_name(scones.model.stack_name).template
    workflow = assembly.get_stack_by_name(scones.workflow.stack_name).template
    return SimpleNamespace(model=scones.model, config=scones.config, raw=raw, template=Template.from_json(raw),
                           workflow=workflow, outdir=assembly.directory)


@pytest.fixture(scope="session")
def raw(built):
    return built.raw


@pytest.fixture(scope="session")
def template(built):
    return built.template


@pytest.fixture(scope="session")
def config(built) -> SconesConfig:
    return built.config


def resources_of_type(raw, resource_type):
    return {k: r for k, r in raw["Resources"].items() if r["Type"] == resource_type}


def one_resource(raw, resource_type):
    found = resources_of_type(raw, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {list(found)}"
    return next(iter(found.items()))


def statements_of(raw, role_logical_prefix):
    return [s for logical_id, s in iam_statements(raw) if logical_id.startswith(role_logical_prefix)]


def actions_of(statement):
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def resources_in(statement):
    resources = statement.get("Resource", [])
    return [flatten_join(r) for r in (resources if isinstance(resources, list) else [resources])]
