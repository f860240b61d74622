from __future__ import annotations

import pytest

from scones_contracts import events
from scones_contracts.metrics import prediction_metric_name


def test_event_fields_are_unique_and_carry_the_object_the_execution_and_an_idempotency_key():
    assert set(events.EVENT_FIELDS) == {"Vehicle Classified", "Photo Rejected", "Review Expired"}
    for fields in events.EVENT_FIELDS.values():
        assert len(set(fields)) == len(fields)
        assert {"bucket", "key", "etag", "version_id", "idempotency_key", "execution_id"} <= set(fields)
    assert {"decided_by", "model_label", "model_confidence"} <= set(events.ROUTING_EVENT_FIELDS)
    assert (events.DECIDED_BY_MODEL, events.DECIDED_BY_REVIEWER) == ("model", "reviewer")


def test_idempotency_key_is_one_per_object_version():
    assert events.idempotency_key("incoming/a b.png", "abc") == "incoming/a b.png#abc"
    assert events.idempotency_key("k", "e1") != events.idempotency_key("k", "e2")


def test_outcomes():
    assert events.OUTCOMES == ("routed", "quarantined", "review_expired", "failed", "review")


@pytest.mark.parametrize("label, name", [("bicycle", "PredictionsBicycle"), ("motor_cycle", "PredictionsMotorCycle"),
                                         ("e-bike 2", "PredictionsEBike2"), ("", "PredictionsUnknown"),
                                         ("x" * 400, "Predictions" + "X" + "x" * 243)])
def test_prediction_metric_names(label, name):
    assert prediction_metric_name(label) == name
    assert len(prediction_metric_name(label)) <= 255
