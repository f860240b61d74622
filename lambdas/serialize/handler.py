"""serialize: read the uploaded photo from S3, validate it and hand a tiny PNG rendition to the workflow.

Handler: ``serialize.handler.handler`` in AWS (``lambdas.serialize.handler.handler`` in tests).

Input (the state machine execution input)::

    {"bucket": str, "key": str, "etag": str|null, "version_id": str|null, "size": int|null, "execution_id": str}

The key may be URL-encoded (S3 notifications encode it, '+' for space): the key is tried as given and,
if S3 says it does not exist, URL-decoded (``urllib.parse.unquote_plus``).

Output for a valid image::

    {"valid": true, "bucket", "key" (the key that exists), "etag", "version_id",
     "image_data": base64 PNG (longest side <= PAYLOAD_MAX_SIDE), "content_type": "image/png",
     "source_format": "PNG"|"JPEG"|"WEBP", "source_width", "source_height", "source_bytes"}

    source_width/source_height are the dimensions stored in the file (before EXIF rotation; the
    payload image itself is rotated upright). Multi-picture JPEGs (MPO) report "JPEG".

Output for an object that exists but is not an acceptable image (no exception)::

    {"valid": false, "bucket", "key", "etag", "version_id", "reason_code", "reason",
     "copy_source": "<bucket>/<quoted key>", "quarantine_key", "reason_key",
     "reason_record": {"bucket", "key", "reason_code", "reason", "detected_at"}}

    reason_code: empty_object | too_large | not_an_image | unsupported_format | truncated_image |
                 decompression_bomb | corrupt_image

Raises (errorType): ``InvalidEventError`` (malformed input), ``ImageNotFoundError`` (no such object),
``ConfigurationError`` (bad environment variable); S3 errors other than not-found (e.g. AccessDenied)
propagate as botocore ``ClientError``.

Environment variables:
    MAX_IMAGE_BYTES      largest object accepted, bytes (default 10485760 = 10 MiB); checked with
                         HeadObject before downloading anything.
    MAX_IMAGE_PIXELS     Pillow decompression-bomb limit, pixels (default 40000000).
    ALLOWED_FORMATS      comma-separated Pillow format names (default "PNG,JPEG,WEBP"; "JPG" = JPEG).
    PAYLOAD_MAX_SIDE     longest side of the PNG put in the payload, 8..512 px (default 64).
    PAYLOAD_MAX_BYTES    hard budget for that PNG, 4096..98304 bytes (default 49152 = 64 KiB of
                         base64): if the rendition is bigger, it is shrunk further until it fits, so
                         the Step Functions state stays far below 256 KiB for any input.
    INCOMING_PREFIX      upload prefix stripped when building the quarantine key (default "incoming/").
    QUARANTINE_PREFIX    prefix of quarantine_key / reason_key (default "quarantine/").
    POWERTOOLS_SERVICE_NAME       service name for logs/metrics (default "serialize").
    POWERTOOLS_METRICS_NAMESPACE  CloudWatch namespace (default "SconesUnlimited").
    POWERTOOLS_TRACE_DISABLED     "true" to disable X-Ray tracing (tests, local runtime).
    POWERTOOLS_LOG_LEVEL          log level (default INFO).
    AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL   optional endpoint override (local runtime); path-style
                                              addressing is used when one is set.

Metrics (namespace above, dimension ``service``):
    ImagesReceived     1 per well-formed event.
    ImagesQuarantined  0 or 1 per image; when 1, also emitted as a separate EMF record with the
                       extra dimension ``ReasonCode`` (and ``reason_code`` as a property).
    ImagesNotFound     1 when the object does not exist.
"""
from __future__ import annotations

import functools
import os
import warnings
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.config import Config

from .image_check import (
    ImageNotFoundError,
    ImageRejected,
    Settings,
    inspect_image,
    invalid_outcome,
    parse_event,
    valid_outcome,
)
from .s3_source import locate_object, read_object

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "serialize"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "SconesUnlimited"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


@functools.lru_cache(maxsize=1)
def get_s3_client() -> Any:
    """Lazily created, cached S3 client (honours AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)."""
    custom_endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    config = Config(
        retries={"total_max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        s3={"addressing_style": "path"} if custom_endpoint else None,
    )
    return boto3.client("s3", config=config)


def _quiet_when_no_metrics(func: Any) -> Any:
    """Paths that emit no metric (e.g. a malformed event) must not trip warnings-as-errors."""

    @functools.wraps(func)
    def wrapper(event: Any, context: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No application metrics to publish")
            return func(event, context)

    return wrapper


def _emit_quarantine_metric(reason_code: str) -> None:
    metrics.add_metric(name="ImagesQuarantined", unit=MetricUnit.Count, value=1)
    metrics.add_metadata(key="reason_code", value=reason_code)
    with single_metric(
        name="ImagesQuarantined", unit=MetricUnit.Count, value=1, namespace=NAMESPACE
    ) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        metric.add_dimension(name="ReasonCode", value=reason_code)
        metric.add_metadata(key="reason_code", value=reason_code)


@_quiet_when_no_metrics
@logger.inject_lambda_context(correlation_id_path="execution_id", clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    request = parse_event(event)
    logger.append_keys(bucket=request.bucket, image_key=request.key)
    tracer.put_annotation(key="image_key", value=request.key[:500])
    metrics.add_metric(name="ImagesReceived", unit=MetricUnit.Count, value=1)

    s3 = get_s3_client()
    try:
        info = locate_object(s3, request)
    except ImageNotFoundError:
        metrics.add_metric(name="ImagesNotFound", unit=MetricUnit.Count, value=1)
        raise
    if info.key != request.key:
        logger.info("event key was URL-encoded; using the decoded key", extra={"resolved_key": info.key})
        logger.append_keys(image_key=info.key)
    if request.etag and info.etag and request.etag != info.etag:
        logger.warning("object changed since the upload event", extra={"event_etag": request.etag, "etag": info.etag})

    etag, version_id = info.etag, info.version_id
    try:
        if info.size == 0:
            raise ImageRejected("empty_object", "object is empty (0 bytes)")
        if info.size > settings.max_image_bytes:
            raise ImageRejected(
                "too_large",
                f"object is {info.size} bytes, above the limit of {settings.max_image_bytes} bytes (MAX_IMAGE_BYTES)",
            )
        data, etag, version_id = read_object(s3, info, settings.max_image_bytes)
        image = inspect_image(data, settings)
    except ImageRejected as rejection:
        outcome = invalid_outcome(
            bucket=info.bucket, key=info.key, etag=etag, version_id=version_id, rejection=rejection, settings=settings
        )
        _emit_quarantine_metric(rejection.reason_code)
        tracer.put_annotation(key="reason_code", value=rejection.reason_code)
        logger.warning(
            "image rejected",
            extra={"reason_code": rejection.reason_code, "reason": rejection.reason, "size": info.size,
                   "quarantine_key": outcome["quarantine_key"]},
        )
        return outcome

    metrics.add_metric(name="ImagesQuarantined", unit=MetricUnit.Count, value=0)
    result = valid_outcome(
        bucket=info.bucket, key=info.key, etag=etag, version_id=version_id, source_bytes=len(data), image=image
    )
    logger.info(
        "image accepted",
        extra={"source_format": image.source_format, "source_width": image.source_width,
               "source_height": image.source_height, "source_bytes": len(data),
               "payload_width": image.width, "payload_height": image.height,
               "payload_bytes": len(image.png_bytes)},
    )
    return result
