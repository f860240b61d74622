"""functions: every product Lambda (arm64, its own role without managed policies, X-Ray, a log group with
retention), as the workflow stack declares them."""
import json

import pytest

from tests.stacks.template_helpers import cdk_template, template_of


@pytest.fixture(scope="module")
def raw(assembly):
    return template_of(assembly, "Workflow")[1]


@pytest.fixture(scope="module")
def template(assembly):
    return cdk_template(assembly, "Workflow")


def test_workflow_functions_arm64_python312_traced_with_own_roles(template, raw):
    functions = {k: r for k, r in raw["Resources"].items()
                 if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"].endswith(".handler.handler")}
    assert sorted(r["Properties"]["Handler"] for r in functions.values()) == [
        "lambdas.batch_summary.handler.handler", "lambdas.check_confidence.handler.handler",
        "lambdas.classify.handler.handler", "lambdas.expire_review.handler.handler",
        "lambdas.open_review.handler.handler", "lambdas.serialize.handler.handler"]
    roles = set()
    for resource in functions.values():
        props = resource["Properties"]
        assert props["Architectures"] == ["arm64"]
        assert props["Runtime"] == "python3.12"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert "LoggingConfig" in props and "LogGroup" in props["LoggingConfig"]
        assert any("AWSLambdaPowertoolsPythonV3-python312-arm64" in json.dumps(layer) for layer in props["Layers"])
        roles.add(json.dumps(props["Role"]))
    assert len(roles) == len(functions), "each function has its own role"


def test_functions_roles_have_no_managed_policies(raw):
    for resource in raw["Resources"].values():
        if resource["Type"] == "AWS::IAM::Role" and "lambda.amazonaws.com" in json.dumps(resource):
            assert "ManagedPolicyArns" not in resource["Properties"]


def test_log_groups_have_retention(template):
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert len(groups) == 8  # six functions, the upload workflow, the batch workflow
    assert all(g["Properties"]["RetentionInDays"] == 30 for g in groups.values())
