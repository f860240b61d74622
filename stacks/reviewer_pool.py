"""Who may review: the Cognito user pool of reviewers, its `reviewers` group, the hosted login
domain and the console's app client.

* Invitation only: self sign-up off; `scones reviewers add EMAIL` (or the documented aws CLI lines)
  creates a reviewer and puts them in the group; Cognito e-mails a temporary password.
* Strong passwords (12+ characters, all four character classes, temporary ones valid 3 days), MFA per
  `reviewer_mfa` (TOTP authenticator apps, no SMS), account recovery by verified e-mail only.
* The Plus feature plan with threat protection enforced (compromised credentials, adaptive
  authentication): a handful of reviewers costs cents a month, and they can route any driver.
* The console's app client: a public client (no secret; a browser page cannot keep one) using the
  authorization code grant with PKCE only, scopes `openid email`, callback and logout at the console
  URL; the API's JWT authorizer accepts its access tokens.
"""
from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from scones_contracts.review import REVIEWER_GROUP

from .config import SconesConfig
from .nag import acknowledge

MFA = {"required": cognito.Mfa.REQUIRED, "optional": cognito.Mfa.OPTIONAL, "off": cognito.Mfa.OFF}


def reviewer_pool_name(config: SconesConfig) -> str:
    return config.resource_name("reviewers")


def login_domain_prefix(config: SconesConfig) -> str:
    """The hosted login's domain prefix: configured, else `<project>-reviews-<account id>` (globally unique)."""
    return config.reviewers.login_domain_prefix or f"{config.project_name}-reviews-{Aws.ACCOUNT_ID}"


class ReviewerPool(Construct):
    """`pool`, `group`, `domain` and `console_client` (whose callback is `console_url`)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: SconesConfig, console_url: str) -> None:
        super().__init__(scope, construct_id)
        mfa = MFA[config.reviewers.mfa]
        self.pool = cognito.UserPool(
            self, "Pool",
            user_pool_name=reviewer_pool_name(config),
            self_sign_up_enabled=False,
            # The username IS the reviewer's e-mail address (scones reviewers add): access tokens carry
            # `username`, so decisions are recorded under a readable name, not a generated id.
            sign_in_aliases=cognito.SignInAliases(username=True),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(email=cognito.StandardAttribute(required=True, mutable=True)),
            password_policy=cognito.PasswordPolicy(min_length=12, require_lowercase=True, require_uppercase=True,
                                                   require_digits=True, require_symbols=True,
                                                   temp_password_validity=Duration.days(3)),
            mfa=mfa,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False) if mfa != cognito.Mfa.OFF else None,
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=config.storage.removal_policy == "retain",
            removal_policy=RemovalPolicy.RETAIN if config.storage.removal_policy == "retain" else RemovalPolicy.DESTROY,
        )
        if mfa != cognito.Mfa.REQUIRED:
            acknowledge(self.pool, "COG2", f"MFA is '{config.reviewers.mfa}' because the deployment's config says so "
                                           "(reviewer_mfa); the default, 'required', needs no acknowledgment.")
        self.group = cognito.CfnUserPoolGroup(
            self, "ReviewersGroup", user_pool_id=self.pool.user_pool_id, group_name=REVIEWER_GROUP,
            description="May list and decide human reviews in the review console and API")
        self.domain = self.pool.add_domain("LoginDomain", cognito_domain=cognito.CognitoDomainOptions(
            domain_prefix=login_domain_prefix(config)))
        self.console_client = self.pool.add_client(
            "ConsoleClient",
            user_pool_client_name=config.resource_name("review-console"),
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True, implicit_code_grant=False),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
                callback_urls=[console_url], logout_urls=[console_url]),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.hours(12),
        )
