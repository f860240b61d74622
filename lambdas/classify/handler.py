"""classify: send the serialized PNG to the SageMaker endpoint and return per-class probabilities.

Handler: ``classify.handler.handler`` in AWS (``lambdas.classify.handler.handler`` in tests).
Uses boto3's ``sagemaker-runtime`` client only (never the SageMaker SDK).

Input::

    {"image": <serialize output with "valid": true>, "execution_id": str}

Output::

    {"bucket", "key", "etag", "version_id",
     "probabilities": {"bicycle": p, "motorcycle": p},     # keys = CLASS_NAMES, in order
     "model_version", "endpoint_name", "variant": InvokedProductionVariant or null, "latency_ms": float}

Raises (errorType): ``EndpointThrottledError`` and ``EndpointUnavailableError`` (retryable),
``ModelRejectedInputError``, ``EndpointConfigurationError``, ``BadModelResponseError``,
``EndpointInvocationError``, ``InvalidRequestError``, ``ConfigurationError``
(see ``classify/inference.py`` for the exact mapping).

The botocore client makes exactly one attempt (``retries={"total_max_attempts": 1}``; note that
``{"max_attempts": 1}`` would mean one *retry*): the state machine owns retries with backoff and jitter.

Environment variables:
    ENDPOINT_NAME              SageMaker endpoint name (required; ConfigurationError when unset).
    CLASS_NAMES                comma-separated class names in the model's output order
                               (default "bicycle,motorcycle").
    MODEL_VERSION              model version reported in the output and as a metric dimension
                               (default "unknown").
    INVOKE_TIMEOUT_SECONDS     botocore read timeout for InvokeEndpoint (default 20; keep it below
                               the function timeout minus CONNECT_TIMEOUT_SECONDS).
    CONNECT_TIMEOUT_SECONDS    botocore connect timeout (default 5).
    PROBABILITY_SUM_TOLERANCE  allowed |sum(probabilities) - 1| (default 0.01).
    POWERTOOLS_SERVICE_NAME       service name for logs/metrics (default "classify").
    POWERTOOLS_METRICS_NAMESPACE  CloudWatch namespace (default "SconesUnlimited").
    POWERTOOLS_TRACE_DISABLED     "true" to disable X-Ray tracing (tests, local runtime).
    AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME / AWS_ENDPOINT_URL   optional endpoint override (local runtime).

Metrics (dimension sets ``[service]`` and ``[service, ModelVersion]``):
    EndpointInvocations  1 per InvokeEndpoint attempt.
    EndpointErrors       0 or 1 per attempt (property ``error_type`` = exception name on failure).
    EndpointLatencyMs    wall time of the attempt incl. reading the body, milliseconds (also on failure).
"""
from __future__ import annotations

import functools
import os
import time
import warnings
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config
from botocore.exceptions import ClientError

from .inference import (
    BadModelResponseError,
    ClassifyError,
    Settings,
    classification_result,
    map_client_error,
    map_transport_error,
    parse_probabilities,
    parse_request,
)

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "classify"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "SconesUnlimited"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


@functools.lru_cache(maxsize=4)
def _client(read_timeout: float, connect_timeout: float) -> Any:
    config = Config(
        # Exactly one attempt. NB: botocore's retries["max_attempts"] counts RETRIES (max_attempts=1 means
        # two attempts); total_max_attempts counts attempts, including the first.
        retries={"total_max_attempts": 1, "mode": "standard"},
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
    )
    return boto3.client("sagemaker-runtime", config=config)


def reset_sagemaker_clients() -> None:
    """Forget the cached clients, so the next call reads the environment again (e.g. a new
    AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME when tests or the local runtime start another endpoint)."""
    _client.cache_clear()


def get_sagemaker_client(settings: Settings | None = None) -> Any:
    """Lazily created, cached sagemaker-runtime client (one per timeout configuration)."""
    settings = settings or Settings.from_env()
    return _client(settings.invoke_timeout_seconds, settings.connect_timeout_seconds)


def _quiet_when_no_metrics(func: Any) -> Any:
    """Paths that emit no metric (e.g. a malformed payload) must not trip warnings-as-errors."""

    @functools.wraps(func)
    def wrapper(event: Any, context: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No application metrics to publish")
            return func(event, context)

    return wrapper


@tracer.capture_method(capture_response=False)
def invoke(settings: Settings, body: bytes) -> tuple[dict[str, float], str | None]:
    """One InvokeEndpoint attempt; returns (probabilities, variant) or raises a typed ClassifyError."""
    client = get_sagemaker_client(settings)
    try:
        response = client.invoke_endpoint(
            EndpointName=settings.endpoint_name,
            ContentType="image/png",
            Accept="application/json",
            Body=body,
        )
        raw = response["Body"].read()
    except ClientError as exc:
        raise map_client_error(exc, settings.endpoint_name) from exc
    except Exception as exc:
        mapped = map_transport_error(exc, settings.endpoint_name)
        if mapped is None:
            raise
        raise mapped from exc
    variant = response.get("InvokedProductionVariant")
    content_type = response.get("ContentType")
    if content_type and "json" not in content_type.lower():
        logger.warning("endpoint answered with an unexpected content type", extra={"content_type": content_type})
    return parse_probabilities(raw, settings.class_names, settings.endpoint_name, settings.sum_tolerance), variant


@_quiet_when_no_metrics
@logger.inject_lambda_context(correlation_id_path="execution_id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    request = parse_request(event)
    logger.append_keys(bucket=request.bucket, image_key=request.key, endpoint_name=settings.endpoint_name)
    metrics.add_dimensions(service=SERVICE, ModelVersion=settings.model_version)
    tracer.put_annotation(key="model_version", value=settings.model_version)

    metrics.add_metric(name="EndpointInvocations", unit=MetricUnit.Count, value=1)
    started = time.perf_counter()
    try:
        probabilities, variant = invoke(settings, request.body)
    except ClassifyError as exc:
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        metrics.add_metric(name="EndpointErrors", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="EndpointLatencyMs", unit=MetricUnit.Milliseconds, value=latency_ms)
        metrics.add_metadata(key="error_type", value=type(exc).__name__)
        log = logger.error if isinstance(exc, BadModelResponseError) else logger.warning
        log("endpoint invocation failed", extra={"error_type": type(exc).__name__, "error": str(exc),
                                                 "latency_ms": latency_ms})
        raise
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    metrics.add_metric(name="EndpointErrors", unit=MetricUnit.Count, value=0)
    metrics.add_metric(name="EndpointLatencyMs", unit=MetricUnit.Milliseconds, value=latency_ms)

    result = classification_result(request, probabilities, settings, variant, latency_ms)
    logger.info("image classified", extra={"probabilities": probabilities, "variant": variant,
                                           "latency_ms": latency_ms, "model_version": settings.model_version})
    return result
