"""Pure core of the classify function: request/response validation and endpoint error mapping.

No AWS calls here; the handler owns the (cached) sagemaker-runtime client.

Typed exceptions (Lambda reports ``errorType`` = class name):

* :class:`EndpointThrottledError`     - ThrottlingException / HTTP 429 (also a container's 429). Retryable.
* :class:`EndpointUnavailableError`   - ModelError with OriginalStatusCode >= 500 (or none), ServiceUnavailable,
  InternalFailure, ModelNotReadyException, other HTTP 5xx, connect/read timeouts, connection errors. Retryable.
* :class:`ModelRejectedInputError`    - ModelError with a 4xx OriginalStatusCode (the model refused the image).
* :class:`EndpointConfigurationError` - ValidationError (endpoint not found, ...) or access denied.
* :class:`BadModelResponseError`      - the answer is not a JSON list of len(CLASS_NAMES) probabilities
  in [0, 1] summing to ~1.
* :class:`EndpointInvocationError`    - any other sagemaker-runtime client error.
* :class:`InvalidRequestError`        - the payload is not ``{"image": <valid serialize output>, ...}``.
* :class:`ConfigurationError`         - an environment variable is missing or invalid.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectionError as BotocoreConnectionError,
    HTTPClientError,
    ResponseStreamingError,
)


class ClassifyError(Exception):
    """Base class of the errors the classify function raises to the state machine."""


class ConfigurationError(ClassifyError):
    """A required environment variable is missing or has an invalid value."""


class InvalidRequestError(ClassifyError):
    """The payload does not carry a valid serialized image."""


class EndpointThrottledError(ClassifyError):
    """SageMaker throttled the invocation (retry with backoff)."""


class EndpointUnavailableError(ClassifyError):
    """The endpoint or its model container failed or timed out (retry with backoff)."""


class ModelRejectedInputError(ClassifyError):
    """The model container answered the image with a 4xx status."""


class EndpointConfigurationError(ClassifyError):
    """The endpoint cannot be invoked as configured (not found, bad request, access denied)."""


class BadModelResponseError(ClassifyError):
    """The endpoint answered, but not with the expected list of class probabilities."""


class EndpointInvocationError(ClassifyError):
    """Any other sagemaker-runtime error."""


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFAULT_CLASS_NAMES = ("bicycle", "motorcycle")
DEFAULT_MODEL_VERSION = "unknown"
DEFAULT_INVOKE_TIMEOUT_SECONDS = 20.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
DEFAULT_SUM_TOLERANCE = 0.01
# invoke_endpoint accepts bodies up to 6 MB; serialize sends a <=128 px PNG, so this only guards misuse.
MAX_BODY_BYTES = 6 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    endpoint_name: str
    class_names: tuple[str, ...] = DEFAULT_CLASS_NAMES
    model_version: str = DEFAULT_MODEL_VERSION
    invoke_timeout_seconds: float = DEFAULT_INVOKE_TIMEOUT_SECONDS
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS
    sum_tolerance: float = DEFAULT_SUM_TOLERANCE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        endpoint_name = env.get("ENDPOINT_NAME", "").strip()
        if not endpoint_name:
            raise ConfigurationError(
                "ENDPOINT_NAME environment variable is not set: the classify function needs the SageMaker endpoint name"
            )
        return cls(
            endpoint_name=endpoint_name,
            class_names=_class_names(env.get("CLASS_NAMES", "")),
            model_version=env.get("MODEL_VERSION", "").strip() or DEFAULT_MODEL_VERSION,
            invoke_timeout_seconds=_positive_float(env, "INVOKE_TIMEOUT_SECONDS", DEFAULT_INVOKE_TIMEOUT_SECONDS),
            connect_timeout_seconds=_positive_float(env, "CONNECT_TIMEOUT_SECONDS", DEFAULT_CONNECT_TIMEOUT_SECONDS),
            sum_tolerance=_positive_float(env, "PROBABILITY_SUM_TOLERANCE", DEFAULT_SUM_TOLERANCE),
        )


def _class_names(raw: str) -> tuple[str, ...]:
    if not raw.strip():
        return DEFAULT_CLASS_NAMES
    names = tuple(name.strip() for name in raw.split(","))
    if len(names) < 2 or any(not name for name in names) or len(set(names)) != len(names):
        raise ConfigurationError(
            f"CLASS_NAMES must be at least two distinct, non-empty, comma-separated names, got {raw!r}"
        )
    return names


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive number, got {raw!r}")
    return value


# --------------------------------------------------------------------------------------------------
# Request
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRequest:
    bucket: str
    key: str
    etag: str | None
    version_id: str | None
    body: bytes
    execution_id: str | None


def parse_request(event: Any) -> ImageRequest:
    """Validate ``{"image": <serialize output with valid=true>, "execution_id": str}``."""
    if not isinstance(event, Mapping):
        raise InvalidRequestError(f"payload must be a JSON object with an 'image', got {type(event).__name__}")
    image = event.get("image")
    if not isinstance(image, Mapping):
        raise InvalidRequestError("payload must contain 'image': the serialize output object")
    if image.get("valid") is not True:
        raise InvalidRequestError(
            "image is not marked valid (valid != true): quarantined images must not be sent to the classifier"
        )
    problems = [f"'image.{f}' must be a non-empty string" for f in ("bucket", "key", "image_data")
                if not isinstance(image.get(f), str) or not image.get(f)]
    problems += [f"'image.{f}' must be a string or null" for f in ("etag", "version_id")
                 if image.get(f) is not None and not isinstance(image.get(f), str)]
    execution_id = event.get("execution_id")
    if execution_id is not None and not isinstance(execution_id, str):
        problems.append("'execution_id' must be a string or null")
    content_type = image.get("content_type", "image/png")
    if content_type != "image/png":
        problems.append(f"'image.content_type' must be 'image/png', got {content_type!r}")
    if problems:
        raise InvalidRequestError("invalid classify payload: " + "; ".join(problems))
    try:
        body = base64.b64decode(image["image_data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError(f"'image.image_data' is not valid base64: {exc}") from None
    if not body.startswith(PNG_SIGNATURE):
        raise InvalidRequestError("'image.image_data' does not decode to a PNG image")
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequestError(f"'image.image_data' is {len(body)} bytes, above the {MAX_BODY_BYTES}-byte limit")
    return ImageRequest(
        bucket=image["bucket"],
        key=image["key"],
        etag=image.get("etag"),
        version_id=image.get("version_id"),
        body=body,
        execution_id=execution_id,
    )


# --------------------------------------------------------------------------------------------------
# Response
# --------------------------------------------------------------------------------------------------


def parse_probabilities(raw: bytes, class_names: tuple[str, ...], endpoint_name: str, tolerance: float) -> dict[str, float]:
    """The endpoint answers ``[p_class0, p_class1, ...]`` (JSON); map it onto ``class_names``."""
    n = len(class_names)
    expected = f"a JSON list of {n} probabilities ({', '.join(class_names)})"
    try:
        values = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        preview = raw[:80].decode("utf-8", "replace")
        raise BadModelResponseError(
            f"endpoint {endpoint_name!r} returned a response that is not JSON (expected {expected}): {preview!r}"
        ) from None
    if not isinstance(values, list):
        raise BadModelResponseError(
            f"endpoint {endpoint_name!r} returned a JSON {type(values).__name__}, expected {expected}"
        )
    if len(values) != n:
        raise BadModelResponseError(
            f"endpoint {endpoint_name!r} returned {len(values)} values, expected {expected}"
        )
    probabilities: dict[str, float] = {}
    for name, value in zip(class_names, values):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise BadModelResponseError(
                f"endpoint {endpoint_name!r} returned {value!r} for class {name!r}, expected a finite number"
            )
        if not 0.0 <= value <= 1.0:
            raise BadModelResponseError(
                f"endpoint {endpoint_name!r} returned {value!r} for class {name!r}, outside [0, 1]"
            )
        probabilities[name] = float(value)
    total = math.fsum(probabilities.values())
    if abs(total - 1.0) > tolerance:
        raise BadModelResponseError(
            f"endpoint {endpoint_name!r} returned probabilities summing to {total:.6g}, expected 1 (+/- {tolerance:g})"
        )
    return probabilities


# --------------------------------------------------------------------------------------------------
# Error mapping
# --------------------------------------------------------------------------------------------------

_UNAVAILABLE_CODES = {
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
    "InternalDependencyException",
    "ModelNotReadyException",
}
_THROTTLE_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException"}
_CONFIG_CODES = {"ValidationError", "ValidationException"}
_ACCESS_CODES = {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException"}


def map_client_error(exc: ClientError, endpoint_name: str) -> ClassifyError:
    """Turn a sagemaker-runtime ClientError into the typed error the state machine branches on."""
    response = exc.response
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")) or "no message"
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    where = f"endpoint {endpoint_name!r}"

    if code in _THROTTLE_CODES:
        return EndpointThrottledError(f"{where} throttled the invocation ({code}): {message}")
    if code in _UNAVAILABLE_CODES:  # ModelNotReadyException comes with HTTP 429: check codes first
        return EndpointUnavailableError(f"{where} is unavailable ({code}): {message}")
    if code == "ModelError":
        original = _int_or_none(response.get("OriginalStatusCode", error.get("OriginalStatusCode")))
        original_message = response.get("OriginalMessage") or error.get("OriginalMessage") or message
        log_stream = response.get("LogStreamArn") or error.get("LogStreamArn")
        detail = f"{original_message}" + (f" (container logs: {log_stream})" if log_stream else "")
        if original == 429:
            return EndpointThrottledError(f"model behind {where} is overloaded (HTTP 429): {detail}")
        if original is not None and 400 <= original < 500:
            return ModelRejectedInputError(
                f"model behind {where} rejected the image with HTTP {original}: {detail}"
            )
        status_text = f"HTTP {original}" if original is not None else "no status code"
        return EndpointUnavailableError(f"model container behind {where} failed with {status_text}: {detail}")
    if code in _CONFIG_CODES:
        return EndpointConfigurationError(
            f"{where} cannot be invoked ({code}): {message} - check ENDPOINT_NAME and that the endpoint is InService"
        )
    if code in _ACCESS_CODES:
        return EndpointConfigurationError(
            f"not allowed to invoke {where} ({code}): {message} - check the function's IAM role"
        )
    if status == 429:
        return EndpointThrottledError(f"{where} throttled the invocation ({code or status}): {message}")
    if isinstance(status, int) and status >= 500:
        return EndpointUnavailableError(f"{where} is unavailable ({code or status}): {message}")
    return EndpointInvocationError(f"invoking {where} failed ({code or status}): {message}")


def map_transport_error(exc: Exception, endpoint_name: str) -> ClassifyError | None:
    """Timeouts / connection problems (botocore raises these instead of ClientError). None if unrelated."""
    if isinstance(exc, (BotocoreConnectionError, HTTPClientError, ResponseStreamingError)):
        return EndpointUnavailableError(
            f"endpoint {endpoint_name!r} did not answer ({type(exc).__name__}): {exc}"
        )
    return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def classification_result(
    request: ImageRequest,
    probabilities: dict[str, float],
    settings: Settings,
    variant: str | None,
    latency_ms: float,
) -> dict[str, Any]:
    return {
        "bucket": request.bucket,
        "key": request.key,
        "etag": request.etag,
        "version_id": request.version_id,
        "probabilities": probabilities,
        "model_version": settings.model_version,
        "endpoint_name": settings.endpoint_name,
        "variant": variant,
        "latency_ms": latency_ms,
    }
