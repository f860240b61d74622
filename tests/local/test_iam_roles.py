"""The synthesized templates' roles as the IAM check reads them (scones.local.iam_roles)."""
from __future__ import annotations

import pytest

from scones.local.iam_policy import Decision, evaluate
from scones.local.iam_roles import AttributionError, TemplateRoles


@pytest.fixture(scope="module")
def roles(assembly) -> TemplateRoles:
    return TemplateRoles(assembly)


def test_every_role_of_every_template_resolves_and_is_understood(roles):
    """A statement the checker cannot resolve or evaluate would make it guess; it must not."""
    assert len(roles.policies) >= 10
    for role in roles.policies:
        assert roles.statements(role), role
        for statement in roles.statements(role):
            assert all(r.startswith("arn:aws:") or r == "*" for r in statement.resources), (role, statement)


def test_who_runs_as_which_role(roles):
    handlers = {"lambdas.serialize.handler.handler", "lambdas.classify.handler.handler",
                "lambdas.check_confidence.handler.handler", "lambdas.drift.handler.handler",
                "lambdas.training_job.handler.on_event", "lambdas.training_job.handler.is_complete"}
    assert handlers <= set(roles.functions)
    assert len({roles.role_of_function(h) for h in handlers}) == len(handlers), "each function has its own role"
    assert set(roles.state_machines) >= {"scones-image-routing"}


def test_statements_read_as_aws_reads_them(roles):
    serialize = roles.statements(roles.role_of_function("lambdas.serialize.handler.handler"))
    bucket = "arn:aws:s3:::scones-data-123456789012-us-east-1"
    assert evaluate(serialize, "s3:GetObjectVersion", f"{bucket}/incoming/a.png") is Decision.ALLOW
    assert evaluate(serialize, "s3:ListBucket", bucket, {"s3:prefix": "incoming/a.png"}) is Decision.ALLOW
    assert evaluate(serialize, "s3:ListBucket", bucket, {"s3:prefix": "models/"}) is Decision.IMPLICIT_DENY
    classify = roles.statements(roles.role_of_function("lambdas.classify.handler.handler"))
    # The endpoint ARN crosses stacks (Fn::ImportValue of the model stack's export).
    assert evaluate(classify, "sagemaker:InvokeEndpoint",
                    "arn:aws:sagemaker:us-east-1:123456789012:endpoint/scones-vehicle-classifier") is Decision.ALLOW


def test_revoking_a_grant_takes_it_out_of_the_role_only(roles, assembly):
    fresh = TemplateRoles(assembly)
    role = fresh.role_of_function("lambdas.serialize.handler.handler")
    object_arn = "arn:aws:s3:::scones-data-123456789012-us-east-1/incoming/a.png"
    fresh.revoke(role, "s3:GetObject")
    assert evaluate(fresh.statements(role), "s3:GetObject", object_arn) is Decision.IMPLICIT_DENY
    assert evaluate(fresh.statements(role), "s3:GetObjectVersion", object_arn) is Decision.ALLOW
    assert evaluate(roles.statements(role), "s3:GetObject", object_arn) is Decision.ALLOW


def test_running_as_names_a_function_of_the_templates(roles):
    with pytest.raises(AttributionError, match="no function of the templates"):
        with roles.running_as("lambdas.nope.handler.handler"):
            pass
