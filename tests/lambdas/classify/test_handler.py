"""classify handler with the SageMaker endpoint stubbed at the boto3 level (botocore Stubber)."""
from __future__ import annotations

import base64
import io
import json

import pytest
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from lambdas.classify import handler as classify_handler
from lambdas.classify.errors import (
    BadModelResponseError,
    EndpointConfigurationError,
    EndpointInvocationError,
    EndpointThrottledError,
    EndpointUnavailableError,
    InvalidRequestError,
    ModelRejectedInputError,
)
from scones_contracts.env import ConfigurationError
from tests.lambdas.lambda_helpers import emf_dimension_sets, emf_metric_names, emf_values, invoke, serialized_image

handler = classify_handler.handler
ENDPOINT = "scones-vehicle-classifier"
LOG_STREAM = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/scones"


@pytest.fixture
def image(base_png):
    return serialized_image(base_png, key="incoming/driver 7/bike.png")


@pytest.fixture
def payload(image):
    return {"image": image, "execution_id": "exec-0002"}


@pytest.fixture
def endpoint():
    """A Stubber on the very client the handler uses (its cached client for the current settings)."""
    client = classify_handler.sagemaker_client()
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def answer(stubber, body: bytes, image: dict, variant: str | None = "AllTraffic", content_type="application/json"):
    response = {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": content_type}
    if variant:
        response["InvokedProductionVariant"] = variant
    stubber.add_response("invoke_endpoint", response, {
        "EndpointName": ENDPOINT, "ContentType": "image/png", "Accept": "application/json",
        "Body": base64.b64decode(image["image_data"]),
    })


def fail(stubber, code: str, status: int, message: str = "", **modeled):
    stubber.add_client_error("invoke_endpoint", service_error_code=code, service_message=message or f"{code} happened",
                             http_status_code=status, modeled_fields=modeled or None)


# ---------------------------------------------------------------- success


@pytest.mark.parametrize("probabilities", [[0.97, 0.03], [0.2, 0.8], [0.5, 0.5], [1, 0]])
def test_probabilities_are_mapped_to_class_names(endpoint, image, payload, lambda_context, probabilities):
    answer(endpoint, json.dumps(probabilities).encode(), image)

    result = invoke(handler, payload, lambda_context)

    assert result["probabilities"] == {"bicycle": probabilities[0], "motorcycle": probabilities[1]}
    assert list(result["probabilities"]) == ["bicycle", "motorcycle"]
    assert {k: result[k] for k in ("bucket", "key", "etag", "version_id")} == {
        k: image[k] for k in ("bucket", "key", "etag", "version_id")}
    assert result["model_version"] == "v7"
    assert result["endpoint_name"] == ENDPOINT
    assert result["variant"] == "AllTraffic"
    assert isinstance(result["latency_ms"], float) and result["latency_ms"] >= 0
    assert set(result) == {"bucket", "key", "etag", "version_id", "probabilities", "model_version",
                           "endpoint_name", "variant", "latency_ms"}


def test_missing_variant_is_null(image, payload, lambda_context):
    with Stubber(classify_handler.sagemaker_client()) as stub:
        answer(stub, b"[0.1, 0.9]", image, variant=None)
        result = invoke(handler, payload, lambda_context)
    assert result["variant"] is None
    assert result["model_version"] == "v7"


def test_custom_class_names(monkeypatch, image, payload, lambda_context):
    monkeypatch.setenv("CLASS_NAMES", "bicycle, motorcycle, scooter")
    with Stubber(classify_handler.sagemaker_client()) as stub:
        answer(stub, b"[0.1, 0.3, 0.6]", image)
        result = invoke(handler, payload, lambda_context)
    assert result["probabilities"] == {"bicycle": 0.1, "motorcycle": 0.3, "scooter": 0.6}


def test_client_makes_a_single_attempt_with_configured_timeouts(monkeypatch):
    monkeypatch.setenv("INVOKE_TIMEOUT_SECONDS", "7.5")
    monkeypatch.setenv("CONNECT_TIMEOUT_SECONDS", "2")
    client = classify_handler.sagemaker_client()
    assert client.meta.service_model.service_name == "sagemaker-runtime"
    assert client.meta.config.retries == {"total_max_attempts": 1, "mode": "standard"}
    assert client.meta.config.read_timeout == 7.5
    assert client.meta.config.connect_timeout == 2.0
    assert classify_handler.sagemaker_client() is client  # cached


# ---------------------------------------------------------------- endpoint errors


@pytest.mark.parametrize(
    ("code", "status", "modeled", "error", "fragments"),
    [
        ("ThrottlingException", 400, {}, EndpointThrottledError,
         [f"endpoint '{ENDPOINT}' throttled the invocation (ThrottlingException)"]),
        ("TooManyRequests", 429, {}, EndpointThrottledError, ["throttled the invocation (TooManyRequests)"]),
        ("ModelError", 424, {"OriginalStatusCode": 500, "OriginalMessage": "CUDA out of memory",
                             "LogStreamArn": LOG_STREAM}, EndpointUnavailableError,
         [f"model container behind endpoint '{ENDPOINT}' failed with HTTP 500: CUDA out of memory", LOG_STREAM]),
        ("ModelError", 424, {"OriginalStatusCode": 503, "OriginalMessage": "warming up"}, EndpointUnavailableError,
         ["failed with HTTP 503: warming up"]),
        ("ModelError", 424, {"OriginalStatusCode": 415, "OriginalMessage": "unsupported content type image/png"},
         ModelRejectedInputError,
         [f"model behind endpoint '{ENDPOINT}' rejected the image with HTTP 415: unsupported content type"]),
        ("ModelError", 424, {"OriginalStatusCode": 400, "OriginalMessage": "cannot decode image"},
         ModelRejectedInputError, ["rejected the image with HTTP 400: cannot decode image"]),
        ("ModelError", 424, {"OriginalStatusCode": 429, "OriginalMessage": "busy"}, EndpointThrottledError,
         ["is overloaded (HTTP 429): busy"]),
        ("ServiceUnavailable", 503, {}, EndpointUnavailableError,
         [f"endpoint '{ENDPOINT}' is unavailable (ServiceUnavailable)"]),
        ("InternalFailure", 500, {}, EndpointUnavailableError, ["is unavailable (InternalFailure)"]),
        ("ModelNotReadyException", 429, {}, EndpointUnavailableError, ["is unavailable (ModelNotReadyException)"]),
        ("SomethingNew", 502, {}, EndpointUnavailableError, ["is unavailable (SomethingNew)"]),
        ("ValidationError", 400, {}, EndpointConfigurationError,
         [f"endpoint '{ENDPOINT}' cannot be invoked (ValidationError)", "check ENDPOINT_NAME"]),
        ("AccessDeniedException", 403, {}, EndpointConfigurationError, ["check the function's IAM role"]),
        ("SomethingElse", 400, {}, EndpointInvocationError, [f"invoking endpoint '{ENDPOINT}' failed (SomethingElse)"]),
    ],
)
def test_endpoint_errors_are_typed(endpoint, payload, lambda_context, code, status, modeled, error, fragments):
    fail(endpoint, code, status, **modeled)

    with pytest.raises(error) as excinfo:
        handler(payload, lambda_context)

    assert type(excinfo.value) is error
    for fragment in fragments:
        assert fragment in str(excinfo.value)


def test_endpoint_not_found_message(endpoint, payload, lambda_context):
    fail(endpoint, "ValidationError", 400, f"Endpoint {ENDPOINT} of account 123456789012 not found.")
    with pytest.raises(EndpointConfigurationError) as excinfo:
        handler(payload, lambda_context)
    assert f"Endpoint {ENDPOINT} of account 123456789012 not found." in str(excinfo.value)


@pytest.mark.parametrize(
    "transport_error",
    [
        ReadTimeoutError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/x/invocations"),
        ConnectTimeoutError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com"),
        EndpointConnectionError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com"),
    ],
    ids=["read-timeout", "connect-timeout", "connection"],
)
def test_timeouts_are_unavailable_and_not_retried_by_botocore(payload, lambda_context, transport_error):
    client = classify_handler.sagemaker_client()
    attempts = []

    def broken_network(request, **_):
        attempts.append(request.url)
        raise transport_error

    client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", broken_network)

    with pytest.raises(EndpointUnavailableError) as excinfo:
        handler(payload, lambda_context)

    assert f"endpoint '{ENDPOINT}' did not answer ({type(transport_error).__name__})" in str(excinfo.value)
    assert len(attempts) == 1, "the state machine owns retries: botocore must not retry"
    assert f"/endpoints/{ENDPOINT}/invocations" in attempts[0]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"<html>502 Bad Gateway</html>", "returned a response that is not JSON"),
        (b"", "returned a response that is not JSON"),
        (b'{"bicycle": 0.9, "motorcycle": 0.1}', "returned a JSON dict, expected a JSON list of 2 probabilities"),
        (b"[0.9]", "returned 1 values, expected a JSON list of 2 probabilities (bicycle, motorcycle)"),
        (b"[[0.9, 0.1]]", "returned 1 values"),
        (b"[0.5, 0.3, 0.2]", "returned 3 values"),
        (b"[0.7, 0.7]", "returned probabilities summing to 1.4, expected 1"),
        (b"[1.5, -0.5]", "returned 1.5 for class 'bicycle', outside [0, 1]"),
        (b'["0.9", "0.1"]', "returned '0.9' for class 'bicycle', expected a finite number"),
        (b"[true, false]", "returned True for class 'bicycle', expected a finite number"),
        (b"[NaN, 0.5]", "returned nan for class 'bicycle', expected a finite number"),
        (b"[null, 1]", "returned None for class 'bicycle'"),
    ],
)
def test_garbage_responses_are_bad_model_responses(endpoint, image, payload, lambda_context, body, fragment):
    answer(endpoint, body, image)

    with pytest.raises(BadModelResponseError) as excinfo:
        handler(payload, lambda_context)

    assert fragment in str(excinfo.value)
    assert f"endpoint '{ENDPOINT}'" in str(excinfo.value)


# ---------------------------------------------------------------- bad input / configuration


@pytest.mark.parametrize("name", ["ENDPOINT_NAME", "MODEL_VERSION", "CLASS_NAMES", "INVOKE_TIMEOUT_SECONDS"])
def test_a_variable_the_stack_sets_is_required(monkeypatch, payload, lambda_context, name):
    monkeypatch.delenv(name)
    with pytest.raises(ConfigurationError, match=f"environment variable {name} is not set"):
        handler(payload, lambda_context)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("CLASS_NAMES", "bicycle", "CLASS_NAMES must be at least two distinct"),
        ("CLASS_NAMES", "bicycle,bicycle", "CLASS_NAMES must be at least two distinct"),
        ("INVOKE_TIMEOUT_SECONDS", "soon", "INVOKE_TIMEOUT_SECONDS must be a number, got 'soon'"),
        ("INVOKE_TIMEOUT_SECONDS", "-1", "INVOKE_TIMEOUT_SECONDS must be a positive finite number"),
    ],
)
def test_bad_configuration(monkeypatch, payload, lambda_context, name, value, fragment):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as excinfo:
        handler(payload, lambda_context)
    assert fragment in str(excinfo.value)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda p: p.pop("image"), "'image': Field required"),
        (lambda p: p["image"].update(valid=False), "'image.valid': must be true: quarantined images must not be sent"),
        (lambda p: p["image"].update(image_data="not base64!"), "'image.image_data' is not valid base64"),
        (lambda p: p["image"].update(image_data=base64.b64encode(b"GIF89a...").decode()),
         "'image.image_data' does not decode to a PNG image"),
        (lambda p: p["image"].pop("key"), "'image.key': Field required"),
        (lambda p: p["image"].update(bucket=" "), "'image.bucket': must not be empty or blank"),
        (lambda p: p["image"].update(content_type="image/jpeg"), "'image.content_type': Input should be 'image/png'"),
        (lambda p: p.update(execution_id=5), "'execution_id': Input should be a valid string, got 5"),
    ],
)
@pytest.mark.filterwarnings("error")
def test_invalid_payloads(payload, lambda_context, mutate, fragment):
    client = classify_handler.sagemaker_client()
    calls = []
    client.meta.events.register("before-call.sagemaker-runtime", lambda **kw: calls.append(kw))
    mutate(payload)

    with pytest.raises(InvalidRequestError) as excinfo:
        handler(payload, lambda_context)

    assert fragment in str(excinfo.value)
    assert calls == []


def test_non_object_payload(lambda_context):
    with pytest.raises(InvalidRequestError, match=r"invalid classify payload: payload: Input should be a valid "
                                                  r"dictionary .*, got \[\]"):
        handler([], lambda_context)


# ---------------------------------------------------------------- observability


def test_emf_metrics_on_success_and_failure(endpoint, image, payload, lambda_context, emf):
    answer(endpoint, b"[0.25, 0.75]", image)
    fail(endpoint, "ThrottlingException", 400)
    emf()

    invoke(handler, payload, lambda_context)
    ok = emf()
    with pytest.raises(EndpointThrottledError):
        handler(payload, lambda_context)
    failed = emf()

    assert len(ok) == 1 and len(failed) == 1
    for record in ok + failed:
        assert emf_metric_names(record) == {"EndpointInvocations", "EndpointErrors", "EndpointLatencyMs"}
        assert emf_dimension_sets(record) == [["service"], ["service", "ModelVersion"]]
        assert record["ModelVersion"] == "v7" and record["service"] == classify_handler.observability.service
        assert emf_values(record, "EndpointInvocations") == [1]
        metric_units = {m["Name"]: m["Unit"] for m in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
        assert metric_units["EndpointLatencyMs"] == "Milliseconds"
        assert emf_values(record, "EndpointLatencyMs")[0] >= 0
    assert emf_values(ok[0], "EndpointErrors") == [0]
    assert emf_values(failed[0], "EndpointErrors") == [1]
    assert failed[0]["error_type"] == "EndpointThrottledError"


def test_logs_carry_execution_id(endpoint, image, payload, lambda_context, captured_logs):
    records = captured_logs(classify_handler)
    answer(endpoint, b"[0.6, 0.4]", image)

    invoke(handler, payload, lambda_context)

    classified = [r for r in records() if r["message"] == "image classified"]
    assert len(classified) == 1
    assert classified[0]["correlation_id"] == "exec-0002"
    assert classified[0]["image_key"] == image["key"]
    assert classified[0]["probabilities"] == {"bicycle": 0.6, "motorcycle": 0.4}
