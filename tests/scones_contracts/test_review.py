"""scones_contracts.review: ids, the decision labels, the audit sample, the rate rule."""
from __future__ import annotations

import pytest

from scones_contracts import review


def test_review_id_is_stable_per_execution_and_reason():
    arn = "arn:aws:states:us-east-1:1:execution:m:x"
    assert review.review_id(arn, "low_confidence") == review.review_id(arn, "low_confidence")
    assert len(review.review_id(arn, "audit")) == 32
    assert len({review.review_id(arn, reason) for reason in review.REVIEW_REASONS}) == 3
    with pytest.raises(ValueError, match="low_confidence"):
        review.review_id(arn, "bored")


def test_the_decision_labels_are_the_classes_and_reject():
    assert review.DECISION_LABELS == ("bicycle", "motorcycle", "reject")
    assert set(review.WAITING_REASONS) == set(review.REVIEW_REASONS) - {"audit"}
    assert "task_token" not in review.INDEX_PROJECTION and "task_token" not in review.LISTING_FIELDS


@pytest.mark.parametrize("rate", [0.0, 0.02, 0.25, 1.0])
def test_the_audit_sample_is_deterministic_and_follows_the_rate(rate):
    keys = [f"incoming/{n}.png#etag{n}" for n in range(5000)]
    sampled = [review.is_audit_sample(key, rate) for key in keys]
    assert sum(sampled) / len(keys) == pytest.approx(rate, abs=0.01)
    assert sampled == [review.is_audit_sample(key, rate) for key in keys]


@pytest.mark.parametrize("value", [-0.01, 1.01, "x", True, float("nan"), None])
def test_a_rate_outside_0_1_is_refused_naming_the_source(value):
    with pytest.raises(ValueError, match="audit_sample_rate"):
        review.validate_rate(value)
