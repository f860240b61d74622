"""Where an image's time went, from an execution history shaped as moto's interpreter writes it
(the events of a routed image: claim, serialize, classify, check confidence, routing event)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from scones.local.step_times import step_times

T0 = datetime(2026, 11, 30, 3, 38, 57, tzinfo=timezone.utc)


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def entered(ms, name):
    return {"timestamp": at(ms), "type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name}}


def exited(ms, name):
    return {"timestamp": at(ms), "type": "TaskStateExited", "stateExitedEventDetails": {"name": name}}


def scheduled(ms, resource_type):
    return {"timestamp": at(ms), "type": "TaskScheduled",
            "taskScheduledEventDetails": {"resourceType": resource_type, "resource": "x"}}


ROUTED = [
    {"timestamp": at(0), "type": "ExecutionStarted", "executionStartedEventDetails": {}},
    entered(3, "Claim delivery"), scheduled(5, "dynamodb"), exited(30, "Claim delivery"),
    entered(30, "Serialize image"), {"timestamp": at(31), "type": "LambdaFunctionScheduled"},
    exited(80, "Serialize image"),
    {"timestamp": at(80), "type": "ChoiceStateEntered", "stateEnteredEventDetails": {"name": "Valid image?"}},
    {"timestamp": at(82), "type": "ChoiceStateExited", "stateExitedEventDetails": {"name": "Valid image?"}},
    entered(82, "Classify vehicle"), exited(122, "Classify vehicle"),
    entered(122, "Check confidence"), exited(130, "Check confidence"),
    entered(131, "Quarantine image"), scheduled(131, "aws-sdk:s3"), exited(141, "Quarantine image"),
    entered(141, "Publish routing event"), scheduled(142, "events"), exited(160, "Publish routing event"),
    {"timestamp": at(165), "type": "ExecutionSucceeded", "executionSucceededEventDetails": {}},
]


def test_each_task_state_by_its_function_or_service_and_the_rest_as_orchestration():
    steps = step_times(ROUTED)
    assert steps == {"dynamodb": 27.0, "serialize": 50.0, "s3": 10.0, "classify": 40.0, "check_confidence": 8.0,
                     "events": 19.0, "orchestration": 165.0 - (27 + 50 + 10 + 40 + 8 + 19)}
    assert "sqs" not in steps  # a step that did not run for the image is absent, not zero


def test_upload_to_start_and_end_to_outcome_seen_from_the_wall_clock():
    uploaded = (T0 - timedelta(milliseconds=120)).timestamp()
    observed = (at(165) + timedelta(milliseconds=15)).timestamp()
    steps = step_times(ROUTED, uploaded_at=uploaded, observed_at=observed)
    assert abs(steps["upload_to_start"] - 120) < 0.01 and abs(steps["observed"] - 15) < 0.01
    assert list(steps)[0] == "upload_to_start" and list(steps)[-1] == "observed"  # the order of the pipeline


def test_no_history_no_steps():
    assert step_times([]) == {}
