"""The reviewer pool (stacks/reviewer_pool.py): invitation only, strong passwords, MFA per config, the
console's public client with the authorization code grant only, hosted login on a derived domain."""
from __future__ import annotations

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from stacks.config import SconesConfig
from stacks.review_stack import ReviewStack
from tests.stacks.template_helpers import flatten_join, template_of


@pytest.fixture(scope="module")
def raw(assembly):
    return template_of(assembly, "Review")[1]


def only(raw: dict, kind: str) -> dict:
    found = [r for r in raw["Resources"].values() if r["Type"] == kind]
    assert len(found) == 1, kind
    return found[0]


def test_invitation_only_strong_passwords_totp_mfa_and_threat_protection(raw, assembly):
    pool = only(raw, "AWS::Cognito::UserPool")
    props = pool["Properties"]
    assert props["UserPoolName"] == assembly.config.resource_name("reviewers")
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True  # self sign-up off
    assert props["Policies"]["PasswordPolicy"] == {"MinimumLength": 12, "RequireLowercase": True,
                                                   "RequireNumbers": True, "RequireSymbols": True,
                                                   "RequireUppercase": True, "TemporaryPasswordValidityDays": 3}
    assert assembly.config.reviewers.mfa == "required"
    assert props["MfaConfiguration"] == "ON" and props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert props["AccountRecoverySetting"] == {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]}
    assert props["UserPoolTier"] == "PLUS"
    assert props["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}
    assert pool["DeletionPolicy"] == "Retain" and props["DeletionProtection"] == "ACTIVE"


def test_the_console_client_is_public_and_uses_the_code_grant_only(raw):
    client = only(raw, "AWS::Cognito::UserPoolClient")["Properties"]
    assert client["GenerateSecret"] is False
    assert client["AllowedOAuthFlows"] == ["code"] and client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthScopes"] == ["openid", "email"]
    api, = (k for k, r in raw["Resources"].items() if r["Type"] == "AWS::ApiGatewayV2::Api")
    assert [flatten_join(u) for u in client["CallbackURLs"]] == [f"<GetAtt:{api}.ApiEndpoint>/"]
    assert client["LogoutURLs"] == client["CallbackURLs"]
    assert client["PreventUserExistenceErrors"] == "ENABLED" and client["SupportedIdentityProviders"] == ["COGNITO"]


def test_the_hosted_login_domain_is_derived_unless_configured(raw):
    domain = only(raw, "AWS::Cognito::UserPoolDomain")["Properties"]
    assert flatten_join(domain["Domain"]) == "scones-reviews-<Ref:AWS::AccountId>"


@pytest.mark.parametrize("mfa, configuration", [("optional", "OPTIONAL"), ("off", "OFF")])
def test_mfa_and_domain_follow_the_config(mfa, configuration):
    app = App(context={"scones": {"reviewer_mfa": mfa, "reviewer_login_domain_prefix": "acme-couriers-review",
                                  "review_api_rate_limit": 5, "review_api_burst_limit": 7}})
    stack = ReviewStack(app, "Review", config=SconesConfig.from_context(app))
    template = Template.from_stack(stack).to_json()
    props = only(template, "AWS::Cognito::UserPool")["Properties"]
    assert props["MfaConfiguration"] == configuration
    assert only(template, "AWS::Cognito::UserPoolDomain")["Properties"]["Domain"] == "acme-couriers-review"
    stage = only(template, "AWS::ApiGatewayV2::Stage")["Properties"]
    assert stage["DefaultRouteSettings"] == {"ThrottlingRateLimit": 5, "ThrottlingBurstLimit": 7}
