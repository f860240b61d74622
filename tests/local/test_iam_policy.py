"""The IAM evaluator on hand-written statements: AWS's evaluation order, wildcards, conditions."""
from __future__ import annotations

import pytest

from scones.local.iam_policy import Decision, Statement, UnsupportedPolicy, evaluate

BUCKET = "arn:aws:s3:::data"


def statements(*raw) -> list[Statement]:
    return [Statement.from_json(s, "test") for s in raw]


def test_allow_matches_action_case_insensitively_and_resource_by_wildcard():
    policy = statements({"Effect": "Allow", "Action": "s3:GetObject*", "Resource": f"{BUCKET}/incoming/*"})
    assert evaluate(policy, "S3:GETOBJECTVERSION", f"{BUCKET}/incoming/a b/c.png") is Decision.ALLOW
    assert evaluate(policy, "s3:GetObject", f"{BUCKET}/INCOMING/c.png") is Decision.IMPLICIT_DENY  # resources: case
    assert evaluate(policy, "s3:PutObject", f"{BUCKET}/incoming/c.png") is Decision.IMPLICIT_DENY
    assert evaluate(policy, "s3:GetObject", f"{BUCKET}/quarantine/c.png") is Decision.IMPLICIT_DENY


def test_question_mark_is_one_character_and_other_characters_are_literal():
    policy = statements({"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/a?.png"})
    assert evaluate(policy, "s3:GetObject", f"{BUCKET}/ab.png") is Decision.ALLOW
    assert evaluate(policy, "s3:GetObject", f"{BUCKET}/abc.png") is Decision.IMPLICIT_DENY
    assert evaluate(policy, "s3:GetObject", f"{BUCKET}/a.pngX") is Decision.IMPLICIT_DENY


def test_an_explicit_deny_wins_over_any_allow():
    policy = statements({"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": f"{BUCKET}/*"})
    assert evaluate(policy, "s3:GetObject", f"{BUCKET}/x") is Decision.ALLOW
    assert evaluate(policy, "s3:DeleteObject", f"{BUCKET}/x") is Decision.EXPLICIT_DENY


def test_not_action_and_not_resource():
    policy = statements({"Effect": "Allow", "NotAction": "s3:Delete*", "NotResource": f"{BUCKET}/secret/*"})
    assert evaluate(policy, "s3:GetObject", f"{BUCKET}/x") is Decision.ALLOW
    assert evaluate(policy, "s3:DeleteObject", f"{BUCKET}/x") is Decision.IMPLICIT_DENY
    assert evaluate(policy, "s3:GetObject", f"{BUCKET}/secret/x") is Decision.IMPLICIT_DENY


def test_string_like_condition_and_a_missing_key():
    policy = statements({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET,
                         "Condition": {"StringLike": {"s3:prefix": ["incoming/*"]}}})
    assert evaluate(policy, "s3:ListBucket", BUCKET, {"s3:prefix": "incoming/x.png"}) is Decision.ALLOW
    assert evaluate(policy, "s3:ListBucket", BUCKET, {"s3:prefix": "models/"}) is Decision.IMPLICIT_DENY
    assert evaluate(policy, "s3:ListBucket", BUCKET, {}) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize("operator, context, holds", [
    ("StringEquals", {"k": "a"}, True), ("StringEquals", {"k": "A"}, False), ("StringEquals", {}, False),
    ("StringNotEquals", {"k": "b"}, True), ("StringNotEquals", {"k": "a"}, False), ("StringNotEquals", {}, True),
    ("StringEqualsIgnoreCase", {"k": "A"}, True), ("StringEqualsIfExists", {}, True),
    ("StringEqualsIfExists", {"k": "b"}, False), ("ArnLike", {"k": "a"}, True),
    ("ForAnyValue:StringEquals", {"k": ["x", "a"]}, True), ("ForAllValues:StringEquals", {"k": ["x", "a"]}, False),
    ("ForAllValues:StringEquals", {"k": ["a"]}, True),
])
def test_condition_operators(operator, context, holds):
    policy = statements({"Effect": "Allow", "Action": "x:Y", "Resource": "*", "Condition": {operator: {"k": "a"}}})
    assert (evaluate(policy, "x:Y", "*", context) is Decision.ALLOW) is holds


def test_numeric_bool_and_null_conditions():
    numeric = statements({"Effect": "Allow", "Action": "x:Y", "Resource": "*",
                          "Condition": {"NumericLessThanEquals": {"n": "10"}, "Bool": {"b": "true"}}})
    assert evaluate(numeric, "x:Y", "*", {"n": 10, "b": "true"}) is Decision.ALLOW
    assert evaluate(numeric, "x:Y", "*", {"n": 11, "b": "true"}) is Decision.IMPLICIT_DENY
    null = statements({"Effect": "Allow", "Action": "x:Y", "Resource": "*", "Condition": {"Null": {"k": "true"}}})
    assert evaluate(null, "x:Y", "*", {}) is Decision.ALLOW
    assert evaluate(null, "x:Y", "*", {"k": "v"}) is Decision.IMPLICIT_DENY


def test_what_is_not_implemented_is_refused_not_guessed():
    with pytest.raises(UnsupportedPolicy, match="DateGreaterThan"):
        evaluate(statements({"Effect": "Allow", "Action": "x:Y", "Resource": "*",
                             "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}}), "x:Y", "*", {})
    with pytest.raises(UnsupportedPolicy, match="Principal"):
        statements({"Effect": "Allow", "Action": "x:Y", "Resource": "*", "Principal": "*"})
