"""serialize: read the uploaded photo from S3, validate it and hand a small PNG rendition to the workflow.

Handler `lambdas.serialize.handler.handler`. Input: the execution input (event.py); the key may be
URL-encoded (S3 notifications encode it, '+' for space): it is tried as given and, if S3 says it
does not exist, URL-decoded. Output: a valid image's payload or the quarantine instructions for an
object that is not an acceptable image (outcomes.py). Settings: settings.py.

Raises (errorType): `InvalidEventError` (malformed input), `ImageNotFoundError` (no such object),
`ConfigurationError` (bad or missing environment variable); S3 errors other than not-found (e.g.
AccessDenied) propagate as botocore `ClientError`. An S3 endpoint override (AWS_ENDPOINT_URL_S3 /
AWS_ENDPOINT_URL, the local runtime) switches to path-style addressing.

Metrics (dimension `service`): ImagesReceived 1 per well-formed event; ImagesQuarantined 0 or 1
per image, when 1 also as its own EMF record with the extra dimension `ReasonCode` (and
`reason_code` as a property); ImagesNotFound 1 when the object does not exist.
"""
from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from scones_contracts import metrics as names
from scones_imaging.decode import ImageRejected

from ..shared import aws_clients
from ..shared.observability import Observability
from .errors import ImageNotFoundError
from .event import parse_event
from .outcomes import invalid_outcome, valid_outcome
from .rendition import render
from .s3_upload import locate_object, read_object
from .settings import Settings

observability = Observability()
logger, metrics, tracer = observability.logger, observability.metrics, observability.tracer


def s3_client() -> Any:
    custom_endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return aws_clients.client("s3", retries={"total_max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                              read_timeout=30, s3={"addressing_style": "path"} if custom_endpoint else None)


def _emit_quarantine_metric(reason_code: str) -> None:
    metrics.add_metric(name=names.IMAGES_QUARANTINED, unit=MetricUnit.Count, value=1)
    metrics.add_metadata(key="reason_code", value=reason_code)
    # Its own record: a ReasonCode dimension on the handler's record would split every other metric too.
    with single_metric(name=names.IMAGES_QUARANTINED, unit=MetricUnit.Count, value=1,
                       namespace=observability.namespace) as metric:
        metric.add_dimension(name=names.SERVICE_DIMENSION, value=observability.service)
        metric.add_dimension(name=names.REASON_CODE_DIMENSION, value=reason_code)
        metric.add_metadata(key="reason_code", value=reason_code)


@observability.handler(capture_response=False)
def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = Settings.from_env(function_memory_mb=context.memory_limit_in_mb)
    request = parse_event(event)
    logger.append_keys(bucket=request.bucket, image_key=request.key)
    tracer.put_annotation(key="image_key", value=request.key[:500])
    metrics.add_metric(name=names.IMAGES_RECEIVED, unit=MetricUnit.Count, value=1)

    s3 = s3_client()
    try:
        info = locate_object(s3, request)
    except ImageNotFoundError:
        metrics.add_metric(name=names.IMAGES_NOT_FOUND, unit=MetricUnit.Count, value=1)
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
            raise ImageRejected("too_large",
                                f"object is {info.size} bytes, above the limit of {settings.max_image_bytes} bytes")
        data, etag, version_id = read_object(s3, info, settings.max_image_bytes)
        image = render(data, settings)
    except ImageRejected as rejection:
        outcome = invalid_outcome(bucket=info.bucket, key=info.key, etag=etag, version_id=version_id,
                                  rejection=rejection, settings=settings)
        _emit_quarantine_metric(rejection.reason_code)
        tracer.put_annotation(key="reason_code", value=rejection.reason_code)
        logger.warning("image rejected", extra={"reason_code": rejection.reason_code, "reason": rejection.reason,
                                                "size": info.size, "quarantine_key": outcome["quarantine_key"]})
        return outcome

    metrics.add_metric(name=names.IMAGES_QUARANTINED, unit=MetricUnit.Count, value=0)
    logger.info("image accepted",
                extra={"source_format": image.source_format, "source_width": image.source_width,
                       "source_height": image.source_height, "source_bytes": len(data),
                       "payload_width": image.width, "payload_height": image.height,
                       "payload_bytes": len(image.png_bytes)})
    return valid_outcome(bucket=info.bucket, key=info.key, etag=etag, version_id=version_id, source_bytes=len(data),
                         image=image)
