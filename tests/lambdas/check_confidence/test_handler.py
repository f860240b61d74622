"""check_confidence handler: threshold decisions, malformed payloads, THRESHOLD validation, EMF metrics."""
from __future__ import annotations

import pytest

from lambdas.check_confidence import handler as confidence_handler
from lambdas.check_confidence.decision import InvalidClassificationError
from scones_contracts.decision import DEFAULT_THRESHOLD
from scones_contracts.env import ConfigurationError
from tests.lambdas.lambda_helpers import emf_dimension_sets, emf_metric_names, emf_values, invoke

handler = confidence_handler.handler


def classification(probabilities, **overrides):
    value = {
        "bucket": "scones-uploads-test", "key": "incoming/driver 7/bike.png", "etag": "0123456789abcdef",
        "version_id": None, "probabilities": probabilities, "model_version": "v7",
        "endpoint_name": "scones-vehicle-classifier", "variant": "AllTraffic", "latency_ms": 12.5,
    }
    value.update(overrides)
    return value


def payload(probabilities, **overrides):
    return {"classification": classification(probabilities, **overrides), "execution_id": "exec-0003"}


def top(probabilities):
    label = max(probabilities, key=probabilities.get)
    return label, probabilities[label]


@pytest.mark.parametrize(
    "probabilities",
    [
        {"bicycle": 0.99, "motorcycle": 0.01},
        {"bicycle": 0.02, "motorcycle": 0.98},
        {"bicycle": 0.6, "motorcycle": 0.4},
        {"bicycle": 0.45, "motorcycle": 0.55},
        {"bicycle": 1.0, "motorcycle": 0.0},
    ],
)
def test_decision_against_default_threshold(lambda_context, probabilities):
    result = invoke(handler, payload(probabilities), lambda_context)

    label, confidence = top(probabilities)
    assert result == {
        "confident": confidence >= DEFAULT_THRESHOLD,
        "audit": False,  # this key is not in the 2 % audit sample (test_audit_sample_follows_the_rate)
        "label": label,
        "confidence": confidence,
        "threshold": DEFAULT_THRESHOLD,
        "probabilities": probabilities,
        "bucket": "scones-uploads-test",
        "key": "incoming/driver 7/bike.png",
        "etag": "0123456789abcdef",
        "version_id": None,
        "model_version": "v7",
    }


@pytest.mark.parametrize("rate", ["0", "0.02", "0.5", "1"])
def test_audit_sample_follows_the_rate_and_only_confident_decisions_are_audited(monkeypatch, lambda_context, rate):
    monkeypatch.setenv("AUDIT_SAMPLE_RATE", rate)
    keys = [f"incoming/driver {n}/bike.png" for n in range(400)]
    audited = [invoke(handler, payload({"bicycle": 0.99, "motorcycle": 0.01}, key=key), lambda_context)["audit"]
               for key in keys]
    share = sum(audited) / len(keys)
    assert share == pytest.approx(float(rate), abs=0.06)
    if rate in ("0", "1"):
        assert share == float(rate)
    unsure = invoke(handler, payload({"bicycle": 0.6, "motorcycle": 0.4}), lambda_context)
    assert unsure["audit"] is False  # a low-confidence decision goes to review anyway
    again = [invoke(handler, payload({"bicycle": 0.99, "motorcycle": 0.01}, key=key), lambda_context)["audit"]
             for key in keys[:20]]
    assert again == audited[:20], "the sample is deterministic: a retried step decides the same way"


@pytest.mark.parametrize("value", ["-0.1", "1.5", "often"])
def test_a_bad_audit_rate_is_a_configuration_error(monkeypatch, lambda_context, value):
    monkeypatch.setenv("AUDIT_SAMPLE_RATE", value)
    with pytest.raises(ConfigurationError, match="AUDIT_SAMPLE_RATE"):
        handler(payload({"bicycle": 0.99, "motorcycle": 0.01}), lambda_context)


def test_the_stack_sets_the_default_threshold():
    import os

    assert float(os.environ["THRESHOLD"]) == DEFAULT_THRESHOLD == 0.93


@pytest.mark.parametrize("threshold", ["0.93", "0.8", "0.51", "0.999"])
@pytest.mark.parametrize("offset", [-1e-9, 0.0, 1e-9])
def test_threshold_boundaries(monkeypatch, lambda_context, threshold, offset):
    monkeypatch.setenv("THRESHOLD", threshold)
    t = float(threshold)
    p = t + offset
    result = invoke(handler, payload({"bicycle": 1 - p, "motorcycle": p}), lambda_context)
    assert result["label"] == "motorcycle"
    assert result["threshold"] == t
    assert result["confident"] is (p >= t)  # equal to the threshold counts as confident


@pytest.mark.parametrize("threshold", ["0.5"])
def test_a_tie_is_never_confident(monkeypatch, lambda_context, threshold):
    monkeypatch.setenv("THRESHOLD", threshold)
    result = invoke(handler, payload({"bicycle": 0.5, "motorcycle": 0.5}), lambda_context)
    assert result["confidence"] >= result["threshold"]
    assert result["confident"] is False
    assert result["label"] == "bicycle"


def test_low_confidence_is_an_outcome_not_an_error(lambda_context):
    result = invoke(handler, payload({"bicycle": 0.51, "motorcycle": 0.49}), lambda_context)
    assert result["confident"] is False and result["label"] == "bicycle"


def test_more_than_two_classes_and_null_model_version(lambda_context):
    probabilities = {"bicycle": 0.05, "motorcycle": 0.01, "scooter": 0.94}
    result = invoke(handler, payload(probabilities, model_version=None), lambda_context)
    assert (result["label"], result["confident"], result["model_version"]) == ("scooter", True, None)


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ({}, "'classification': Field required"),
        ({"classification": "bicycle"}, "'classification': Input should be a valid dictionary"),
        ([], "payload: Input should be a valid dictionary"),
        (payload({}), "'classification.probabilities': Dictionary should have at least 1 item"),
        (payload([0.9, 0.1]), "'classification.probabilities': Input should be a valid dictionary"),
        (payload({"bicycle": 1.2, "motorcycle": -0.2}),
         "'classification.probabilities.bicycle': Input should be less than or equal to 1, got 1.2"),
        (payload({"bicycle": 1.2, "motorcycle": -0.2}),
         "'classification.probabilities.motorcycle': Input should be greater than or equal to 0, got -0.2"),
        (payload({"bicycle": "0.9", "motorcycle": 0.1}),
         "'classification.probabilities.bicycle': Input should be a valid number, got '0.9'"),
        (payload({"bicycle": True, "motorcycle": 0.0}),
         "'classification.probabilities.bicycle': Input should be a valid number, got True"),
        (payload({"bicycle": None, "motorcycle": 0.1}),
         "'classification.probabilities.bicycle': Input should be a valid number, got None"),
        (payload({"bicycle": float("nan"), "motorcycle": 0.1}), "'classification.probabilities.bicycle'"),
        (payload({"bicycle": 0.9, "motorcycle": 0.1}, key=""), "'classification.key': must not be empty or blank"),
        (payload({"bicycle": 0.9, "motorcycle": 0.1}, bucket=None),
         "'classification.bucket': Input should be a valid string, got None"),
        (payload({"bicycle": 0.9, "motorcycle": 0.1}, model_version=7),
         "'classification.model_version': Input should be a valid string, got 7"),
    ],
)
@pytest.mark.filterwarnings("error")
def test_malformed_payloads(lambda_context, event, fragment):
    with pytest.raises(InvalidClassificationError) as excinfo:
        handler(event, lambda_context)
    assert fragment in str(excinfo.value)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("high", "THRESHOLD must be a number with 0.5 <= threshold < 1, got 'high'"),
        ("0", "THRESHOLD must satisfy 0.5 <= threshold < 1, got '0'"),
        ("0.3", "got '0.3'"),
        ("1", "THRESHOLD must satisfy 0.5 <= threshold < 1, got '1'"),
        ("1.5", "got '1.5'"),
        ("-0.2", "got '-0.2'"),
        ("nan", "got 'nan'"),
        ("93", "got '93'"),
    ],
)
@pytest.mark.filterwarnings("error")
def test_bad_threshold_env(monkeypatch, lambda_context, value, fragment):
    monkeypatch.setenv("THRESHOLD", value)
    with pytest.raises(ConfigurationError) as excinfo:
        handler(payload({"bicycle": 0.99, "motorcycle": 0.01}), lambda_context)
    assert fragment in str(excinfo.value)


def test_an_unset_threshold_fails_instead_of_defaulting(monkeypatch, lambda_context):
    monkeypatch.delenv("THRESHOLD")
    with pytest.raises(ConfigurationError, match="environment variable THRESHOLD is not set"):
        handler(payload({"bicycle": 0.99, "motorcycle": 0.01}), lambda_context)


@pytest.mark.parametrize(
    ("probabilities", "confident"),
    [({"bicycle": 0.97, "motorcycle": 0.03}, True), ({"bicycle": 0.3, "motorcycle": 0.7}, False)],
)
def test_emf_metrics(lambda_context, emf, probabilities, confident):
    emf()
    invoke(handler, payload(probabilities), lambda_context)
    records = emf()

    label, confidence = top(probabilities)
    label_metric = f"Predictions{label.capitalize()}"
    assert len(records) == 1
    record = records[0]
    assert emf_metric_names(record) == {label_metric, "TopConfidence", "ConfidentPredictions",
                                        "LowConfidencePredictions"}
    assert emf_dimension_sets(record) == [["service"], ["service", "ModelVersion"]]
    assert record["ModelVersion"] == "v7" and record["service"] == confidence_handler.observability.service
    assert emf_values(record, label_metric) == [1]
    assert emf_values(record, "TopConfidence") == [confidence]
    assert emf_values(record, "ConfidentPredictions") == [int(confident)]
    assert emf_values(record, "LowConfidencePredictions") == [int(not confident)]


def test_logs_carry_execution_id(lambda_context, captured_logs):
    records = captured_logs(confidence_handler)
    invoke(handler, payload({"bicycle": 0.5, "motorcycle": 0.5}), lambda_context)
    decisions = [r for r in records() if "prediction" in r["message"]]
    assert len(decisions) == 1
    assert decisions[0]["correlation_id"] == "exec-0003"
    assert decisions[0]["message"] == "low-confidence prediction: needs human review"
