"""The real classify Lambda handler against the local model server (no stubs): answers and fault mapping."""
from __future__ import annotations

import base64
import io
import json
from types import SimpleNamespace

import pytest
from PIL import Image

from lambdas.classify import handler as classify_handler
from lambdas.classify.inference import (
    EndpointConfigurationError,
    EndpointThrottledError,
    EndpointUnavailableError,
    ModelRejectedInputError,
)

ENDPOINT = "scones-vehicle-classifier"
CONTEXT = SimpleNamespace(function_name="scones-classify", aws_request_id="0000-1111",
                          memory_limit_in_mb=256,
                          invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:scones-classify")


def payload(png: bytes, key: str = "incoming/bike.png") -> dict:
    return {"image": {"valid": True, "bucket": "scones-uploads", "key": key, "etag": "0123", "version_id": None,
                      "content_type": "image/png", "image_data": base64.b64encode(png).decode("ascii")},
            "execution_id": "exec-local-1"}


@pytest.fixture
def classify_against(monkeypatch):
    """classify_against(server) -> a function calling the real handler with the server as its endpoint."""
    def point(server, endpoint_name: str = ENDPOINT):
        monkeypatch.setenv("ENDPOINT_NAME", endpoint_name)
        monkeypatch.setenv("MODEL_VERSION", server.model_version)
        monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "SconesUnlimited")
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
        classify_handler._client.cache_clear()
        return lambda event: classify_handler.handler(event, CONTEXT)

    yield point
    classify_handler._client.cache_clear()


def test_classify_handler_classifies_a_real_image_end_to_end(server, classify_against, images, predict_locally):
    classify = classify_against(server)
    for image in images[:4]:
        result = classify(payload(image.png, key=f"incoming/{image.name}"))

        expected = json.loads(predict_locally(image.png))
        assert result["probabilities"] == {"bicycle": expected[0], "motorcycle": expected[1]}
        assert result["key"] == f"incoming/{image.name}"
        assert result["variant"] == "AllTraffic"
        assert result["endpoint_name"] == ENDPOINT and result["model_version"] == server.model_version
        assert result["latency_ms"] > 0


@pytest.mark.parametrize("kind, expected", [
    ("throttle", EndpointThrottledError),
    ("model-error", EndpointUnavailableError),
    ("unavailable", EndpointUnavailableError),
])
def test_injected_faults_map_to_the_retryable_classify_errors(make_server, classify_against, images, kind, expected):
    srv = make_server(inject_errors=1.0, fault_kind=kind)
    classify = classify_against(srv)

    with pytest.raises(expected) as caught:
        classify(payload(images[0].png))

    assert ENDPOINT in str(caught.value)
    assert srv.invocation_stats()["faults"] == 1  # exactly one attempt: the state machine owns retries


def test_mixed_faults_give_both_retryable_errors(make_server, classify_against, images):
    srv = make_server(inject_errors=1.0)
    classify = classify_against(srv)
    raised = []
    for _ in range(2):
        with pytest.raises((EndpointThrottledError, EndpointUnavailableError)) as caught:
            classify(payload(images[0].png))
        raised.append(type(caught.value))

    assert raised == [EndpointThrottledError, EndpointUnavailableError]


def test_a_png_the_model_cannot_decode_is_rejected_input(server, classify_against, images):
    truncated = images[0].png[:60]  # PNG signature (passes the Lambda's check), body cut short
    classify = classify_against(server)

    with pytest.raises(ModelRejectedInputError) as caught:
        classify(payload(truncated))

    assert "HTTP 400" in str(caught.value)


def test_a_wrong_endpoint_name_is_a_configuration_error(server, classify_against, images):
    classify = classify_against(server, endpoint_name="scones-typo")

    with pytest.raises(EndpointConfigurationError) as caught:
        classify(payload(images[0].png))

    assert "Endpoint scones-typo of account" in str(caught.value)


def test_a_resized_png_like_serialize_sends_is_classified(server, classify_against, images, predict_locally):
    """serialize re-encodes uploads as small PNGs; any PNG size goes through the same handlers."""
    buffer = io.BytesIO()
    Image.open(io.BytesIO(images[3].png)).resize((64, 64)).save(buffer, format="PNG")
    classify = classify_against(server)

    result = classify(payload(buffer.getvalue()))

    expected = json.loads(predict_locally(buffer.getvalue()))
    assert list(result["probabilities"].values()) == expected
