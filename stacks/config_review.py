"""The config groups of human review: the wait for a reviewer and the audit sample (`ReviewSettings`),
and who may review and how they sign in (`ReviewerAccessSettings`: Cognito and the review API).

Same rules as `config_groups`: one frozen dataclass per concern, each field one flat `cdk.json` /
`-c` key, validated in the group's `__post_init__` with errors naming the key.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from scones_contracts.review import validate_rate

from .config_groups import ConfigGroup, knob

# Step Functions Standard executions run for at most a year; nobody should wait a month for a human.
MAX_REVIEW_TIMEOUT_HOURS = 30 * 24


@dataclass(frozen=True)
class ReviewSettings(ConfigGroup):
    """How long an image waits for a reviewer, what is audited, and how review items are kept and shown."""

    # The callback task's TimeoutSeconds. A fraction of an hour is allowed (tests use a few seconds).
    timeout_hours: float = knob("review_timeout_hours", 24.0)
    # Share of confident decisions that are routed AND queued for a reviewer (live accuracy).
    audit_sample_rate: float = knob("audit_sample_rate", 0.02)
    # Items stay in the table this long after their review timeout (TTL), decided or not.
    retention_days: int = knob("review_retention_days", 90)
    # Lifetime of the presigned image URLs the review API hands to the console.
    image_url_expiry_seconds: int = knob("review_image_url_expiry_seconds", 300)
    # At most this many pending reviews per GET /api/reviews (oldest first).
    list_limit: int = knob("review_list_limit", 50)
    # Live accuracy of automatic routing (reviewer labels on audit samples): alarm when it falls below
    # this bound over the window, judged only from at least `live_accuracy_min_samples` audits.
    live_accuracy_alarm_bound: float = knob("live_accuracy_alarm_bound", 0.9)
    live_accuracy_min_samples: int = knob("live_accuracy_min_samples", 20)
    live_accuracy_window_hours: int = knob("live_accuracy_window_hours", 24)

    @property
    def timeout_seconds(self) -> int:
        return max(1, round(self.timeout_hours * 3600))

    def __post_init__(self) -> None:
        self._check("timeout_hours", 1 / 3600 <= self.timeout_hours <= MAX_REVIEW_TIMEOUT_HOURS,
                    f"{1 / 3600:.6f} (one second) .. {MAX_REVIEW_TIMEOUT_HOURS} hours")
        try:
            valid = validate_rate(self.audit_sample_rate) == self.audit_sample_rate
        except ValueError:
            valid = False
        self._check("audit_sample_rate", valid, "0..1 (0 = no audit, 1 = audit every confident decision)")
        self._range("retention_days", 1, 3650, " days")
        self._range("image_url_expiry_seconds", 10, 3600, " s (short-lived: the console refreshes its list)")
        self._range("list_limit", 1, 500)
        self._check("live_accuracy_alarm_bound", 0 < self.live_accuracy_alarm_bound <= 1, "0 < bound <= 1")
        self._range("live_accuracy_min_samples", 1, 100_000, " audit decisions")
        # CloudWatch alarms evaluate at most one day per period.
        self._range("live_accuracy_window_hours", 1, 24, " hours")


MFA_MODES = ("required", "optional", "off")
# Cognito domain prefixes: lowercase letters, digits and hyphens, 1-63, not starting or ending with a
# hyphen, and never containing "aws", "amazon" or "cognito".
_DOMAIN_PREFIX = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
RESERVED_DOMAIN_WORDS = ("aws", "amazon", "cognito")


@dataclass(frozen=True)
class ReviewerAccessSettings(ConfigGroup):
    """The reviewer pool (Cognito) and the review API in front of it."""

    mfa: str = knob("reviewer_mfa", "required")  # TOTP authenticator apps; no SMS
    # The hosted login's domain prefix; "" -> "<project_name>-reviews-<account id>" (globally unique).
    login_domain_prefix: str = knob("reviewer_login_domain_prefix", "")
    api_rate_limit: int = knob("review_api_rate_limit", 20)  # requests per second, the HTTP API stage
    api_burst_limit: int = knob("review_api_burst_limit", 40)

    def __post_init__(self) -> None:
        self._check("mfa", self.mfa in MFA_MODES, f"one of {MFA_MODES}")
        prefix = self.login_domain_prefix
        self._check("login_domain_prefix", prefix == "" or (
            bool(_DOMAIN_PREFIX.fullmatch(prefix)) and not any(word in prefix for word in RESERVED_DOMAIN_WORDS)),
                    "'' (derived from project_name and the account) or 1-63 lowercase letters, digits and '-', "
                    f"not starting or ending with '-', without {RESERVED_DOMAIN_WORDS}")
        self._range("api_rate_limit", 1, 10_000, " requests per second")
        self._check("api_burst_limit", self.api_rate_limit <= self.api_burst_limit <= 5_000,
                    f"review_api_rate_limit ({self.api_rate_limit})..5000")
