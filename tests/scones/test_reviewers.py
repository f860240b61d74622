"""`scones reviewers add`: one command gives a person access to the review console (moto's Cognito)."""
from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from scones.cli import main
from scones.reviewers import ReviewerError, add_reviewer, find_pool
from tests.conftest import set_fake_aws_env


@pytest.fixture
def cognito(monkeypatch):
    set_fake_aws_env(monkeypatch, clear=("AWS_ENDPOINT_URL", "AWS_PROFILE"))
    with mock_aws():
        client = boto3.client("cognito-idp", region_name="us-east-1")
        pool = client.create_user_pool(PoolName="scones-reviewers",
                                       AdminCreateUserConfig={"AllowAdminCreateUserOnly": True})["UserPool"]["Id"]
        client.create_group(UserPoolId=pool, GroupName="reviewers")
        client.create_user_pool(PoolName="someone-elses-pool")
        yield client, pool


def groups_of(client, pool: str, username: str) -> list[str]:
    return [g["GroupName"] for g in client.admin_list_groups_for_user(UserPoolId=pool, Username=username)["Groups"]]


def test_the_command_creates_the_reviewer_in_the_pool_found_by_name(cognito, capsys):
    client, pool = cognito
    assert main(["reviewers", "add", "ann@example.com"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {"user_pool_id": pool, "username": "ann@example.com", "created": True, "group": "reviewers"}
    user = client.admin_get_user(UserPoolId=pool, Username="ann@example.com")
    attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert attributes["email"] == "ann@example.com" and attributes["email_verified"] == "true"
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"  # Cognito mailed a temporary password
    assert groups_of(client, pool, "ann@example.com") == ["reviewers"]


def test_adding_an_existing_user_only_puts_them_in_the_group(cognito):
    client, pool = cognito
    client.admin_create_user(UserPoolId=pool, Username="bob@example.com")
    assert add_reviewer(client, pool, "bob@example.com")["created"] is False
    assert groups_of(client, pool, "bob@example.com") == ["reviewers"]


def test_the_pool_can_be_named_and_the_project_name_comes_from_the_config(cognito, capsys):
    client, pool = cognito
    assert main(["reviewers", "add", "cy@example.com", "--user-pool-id", pool]) == 0
    assert groups_of(client, pool, "cy@example.com") == ["reviewers"]
    assert main(["-c", "project_name=other", "reviewers", "add", "dee@example.com"]) == 2
    err = capsys.readouterr().err
    assert "one user pool named 'other-reviewers'" in err and "found 0" in err and "--user-pool-id" in err


def test_bad_input_is_refused_with_a_clear_message(cognito, capsys):
    client, pool = cognito
    with pytest.raises(ReviewerError, match="not an e-mail address"):
        add_reviewer(client, pool, "not-an-email")
    assert main(["reviewers", "add", "x"]) == 2
    assert "'x' is not an e-mail address" in capsys.readouterr().err
    client.create_user_pool(PoolName="scones-reviewers")
    with pytest.raises(ReviewerError, match="found 2"):
        find_pool(client, "scones-reviewers")
