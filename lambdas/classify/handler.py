"""classify: send the payload PNG to the SageMaker endpoint and return per-class probabilities.

Handler `lambdas.classify.handler.handler`. Input: request.py; output: response.py; settings:
settings.py; errors and how endpoint failures map onto them: errors.py. Uses boto3's
`sagemaker-runtime` client only (never the SageMaker SDK).

The client makes exactly one attempt (`retries={"total_max_attempts": 1}`; `{"max_attempts": 1}`
would mean one *retry*): the state machine owns retries, with backoff and jitter.

Metrics (dimension sets `[service]` and `[service, ModelVersion]`): EndpointInvocations 1 per
attempt; EndpointErrors 0 or 1 per attempt (property `error_type` = exception name on failure);
EndpointLatencyMs wall time of the attempt including reading the body (also on failure).
"""
from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from scones_contracts import metrics as names
from scones_contracts.endpoint import REQUEST_CONTENT_TYPE, RESPONSE_CONTENT_TYPE

from ..shared import aws_clients
from ..shared.observability import Observability
from .errors import BadModelResponseError, ClassifyError, map_client_error, map_transport_error
from .request import parse_request
from .response import classification_result, parse_probabilities
from .settings import Settings

observability = Observability()
logger, metrics, tracer = observability.logger, observability.metrics, observability.tracer


def sagemaker_client(settings: Settings | None = None) -> Any:
    """The cached sagemaker-runtime client for the settings' timeouts, making exactly one attempt."""
    settings = settings or Settings.from_env()
    return aws_clients.client("sagemaker-runtime", retries={"total_max_attempts": 1, "mode": "standard"},
                              read_timeout=settings.invoke_timeout_seconds,
                              connect_timeout=settings.connect_timeout_seconds)


@tracer.capture_method(capture_response=False)
def invoke(settings: Settings, body: bytes) -> tuple[dict[str, float], str | None]:
    """One InvokeEndpoint attempt; returns (probabilities, variant) or raises a typed ClassifyError."""
    try:
        response = sagemaker_client(settings).invoke_endpoint(
            EndpointName=settings.endpoint_name, ContentType=REQUEST_CONTENT_TYPE, Accept=RESPONSE_CONTENT_TYPE,
            Body=body)
        raw = response["Body"].read()
    except ClientError as exc:
        raise map_client_error(exc, settings.endpoint_name) from exc
    except Exception as exc:
        mapped = map_transport_error(exc, settings.endpoint_name)
        if mapped is None:
            raise
        raise mapped from exc
    content_type = response.get("ContentType")
    if content_type and "json" not in content_type.lower():
        logger.warning("endpoint answered with an unexpected content type", extra={"content_type": content_type})
    probabilities = parse_probabilities(raw, settings.class_names, settings.endpoint_name, settings.sum_tolerance)
    return probabilities, response.get("InvokedProductionVariant")


@observability.handler()
def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    request = parse_request(event)
    logger.append_keys(bucket=request.image.bucket, image_key=request.image.key, endpoint_name=settings.endpoint_name)
    metrics.add_dimensions(**{names.SERVICE_DIMENSION: observability.service,
                              names.MODEL_VERSION_DIMENSION: settings.model_version})
    tracer.put_annotation(key="model_version", value=settings.model_version)

    metrics.add_metric(name=names.ENDPOINT_INVOCATIONS, unit=MetricUnit.Count, value=1)
    started = time.perf_counter()
    try:
        probabilities, variant = invoke(settings, request.body)
    except ClassifyError as exc:
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        metrics.add_metric(name=names.ENDPOINT_ERRORS, unit=MetricUnit.Count, value=1)
        metrics.add_metric(name=names.ENDPOINT_LATENCY_MS, unit=MetricUnit.Milliseconds, value=latency_ms)
        metrics.add_metadata(key="error_type", value=type(exc).__name__)
        log = logger.error if isinstance(exc, BadModelResponseError) else logger.warning
        log("endpoint invocation failed",
            extra={"error_type": type(exc).__name__, "error": str(exc), "latency_ms": latency_ms})
        raise
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    metrics.add_metric(name=names.ENDPOINT_ERRORS, unit=MetricUnit.Count, value=0)
    metrics.add_metric(name=names.ENDPOINT_LATENCY_MS, unit=MetricUnit.Milliseconds, value=latency_ms)

    logger.info("image classified", extra={"probabilities": probabilities, "variant": variant,
                                           "latency_ms": latency_ms, "model_version": settings.model_version})
    return classification_result(request, probabilities, settings, variant, latency_ms)
