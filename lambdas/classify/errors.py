"""The errors the classify function raises to the state machine, and how endpoint failures map onto them.

Lambda reports `errorType` = class name; the state machine retries the first two:

* `EndpointThrottledError`     ThrottlingException / HTTP 429 (also a container's 429).
* `EndpointUnavailableError`   ModelError with OriginalStatusCode >= 500 (or none), ServiceUnavailable,
  InternalFailure, ModelNotReadyException, other HTTP 5xx, connect/read timeouts, connection errors.
* `ModelRejectedInputError`    ModelError with a 4xx OriginalStatusCode (the model refused the image).
* `EndpointConfigurationError` ValidationError (endpoint not found, ...) or access denied.
* `BadModelResponseError`      the answer is not a JSON list of len(CLASS_NAMES) probabilities in
  [0, 1] summing to ~1.
* `EndpointInvocationError`    any other sagemaker-runtime client error.
* `InvalidRequestError`        the payload is not `{"image": <valid serialize output>, ...}`.

A bad environment variable raises `scones_contracts.env.ConfigurationError`.
"""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import HTTPClientError, ResponseStreamingError


class ClassifyError(Exception):
    """Base class of the errors the classify function raises to the state machine."""


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
        return _model_error(response, error, message, where)
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


def _model_error(response: dict, error: dict, message: str, where: str) -> ClassifyError:
    """The container's own status decides: 429 throttled, 4xx rejected input, anything else unavailable."""
    original = _int_or_none(response.get("OriginalStatusCode", error.get("OriginalStatusCode")))
    original_message = response.get("OriginalMessage") or error.get("OriginalMessage") or message
    log_stream = response.get("LogStreamArn") or error.get("LogStreamArn")
    detail = f"{original_message}" + (f" (container logs: {log_stream})" if log_stream else "")
    if original == 429:
        return EndpointThrottledError(f"model behind {where} is overloaded (HTTP 429): {detail}")
    if original is not None and 400 <= original < 500:
        return ModelRejectedInputError(f"model behind {where} rejected the image with HTTP {original}: {detail}")
    status_text = f"HTTP {original}" if original is not None else "no status code"
    return EndpointUnavailableError(f"model container behind {where} failed with {status_text}: {detail}")


def map_transport_error(exc: Exception, endpoint_name: str) -> ClassifyError | None:
    """Timeouts / connection problems (botocore raises these instead of ClientError). None if unrelated."""
    if isinstance(exc, (BotocoreConnectionError, HTTPClientError, ResponseStreamingError)):
        return EndpointUnavailableError(f"endpoint {endpoint_name!r} did not answer ({type(exc).__name__}): {exc}")
    return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
