from __future__ import annotations

import pytest

from scones_contracts import events
from scones_contracts.metrics import prediction_metric_name


def test_routing_event_and_review_message_fields_are_unique_and_carry_the_object_and_execution():
    for fields in (events.ROUTING_EVENT_FIELDS, *events.REVIEW_MESSAGE_FIELDS.values()):
        assert len(set(fields)) == len(fields)
        assert {"bucket", "key", "etag", "execution_id"} <= set(fields)
    assert set(events.REVIEW_MESSAGE_FIELDS) == {events.REVIEW_LOW_CONFIDENCE, events.REVIEW_PROCESSING_FAILED}
    assert all(fields[0] == "reason" for fields in events.REVIEW_MESSAGE_FIELDS.values())


def test_idempotency_key_is_one_per_object_version():
    assert events.idempotency_key("incoming/a b.png", "abc") == "incoming/a b.png#abc"
    assert events.idempotency_key("k", "e1") != events.idempotency_key("k", "e2")


def test_outcomes():
    assert events.OUTCOMES == ("routed", "review", "quarantined", "failed")


@pytest.mark.parametrize("label, name", [("bicycle", "PredictionsBicycle"), ("motor_cycle", "PredictionsMotorCycle"),
                                         ("e-bike 2", "PredictionsEBike2"), ("", "PredictionsUnknown"),
                                         ("x" * 400, "Predictions" + "X" + "x" * 243)])
def test_prediction_metric_names(label, name):
    assert prediction_metric_name(label) == name
    assert len(prediction_metric_name(label)) <= 255
