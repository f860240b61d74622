"""The config groups of human review: the wait for a reviewer and the audit sample (`ReviewSettings`).

Same rules as `config_groups`: one frozen dataclass per concern, each field one flat `cdk.json` /
`-c` key, validated in the group's `__post_init__` with errors naming the key.
"""
from __future__ import annotations

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
