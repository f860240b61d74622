"""What the serialize function returns: a valid image's payload, or the quarantine instructions.

Valid::

    {"valid": true, "bucket", "key" (the key that exists), "etag", "version_id",
     "image_data": base64 PNG (longest side <= PAYLOAD_MAX_SIDE), "content_type": "image/png",
     "source_format": "PNG"|"JPEG"|"WEBP", "source_width", "source_height", "source_bytes"}

    source_width/source_height are the dimensions stored in the file (before EXIF rotation; the
    payload image itself is upright). Multi-picture JPEGs (MPO) report "JPEG".

Invalid (the object exists but is not an acceptable image; no exception)::

    {"valid": false, "bucket", "key", "etag", "version_id", "reason_code", "reason",
     "copy_source": "<bucket>/<quoted key>[?versionId=<id>]", "quarantine_key", "reason_key",
     "reason_record": {"bucket", "key", "version_id", "etag", "reason_code", "reason", "detected_at"}}

    reason_code: one of scones_contracts.images.REASON_CODES; quarantine_key / reason_key: the
    upload's own quarantine folder (`scones_contracts.quarantine`: unique per upload, <= 1024 bytes)
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from scones_contracts.images import PAYLOAD_CONTENT_TYPE
from scones_contracts.quarantine import copy_source, quarantine_location
from scones_imaging.decode import ImageRejected

from .rendition import Rendition
from .settings import Settings


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def valid_outcome(*, bucket: str, key: str, etag: str | None, version_id: str | None, source_bytes: int,
                  image: Rendition) -> dict[str, Any]:
    return {
        "valid": True,
        "bucket": bucket,
        "key": key,
        "etag": etag,
        "version_id": version_id,
        "image_data": image.base64,
        "content_type": PAYLOAD_CONTENT_TYPE,
        "source_format": image.source_format,
        "source_width": image.source_width,
        "source_height": image.source_height,
        "source_bytes": source_bytes,
    }


def invalid_outcome(*, bucket: str, key: str, etag: str | None, version_id: str | None, rejection: ImageRejected,
                    settings: Settings, detected_at: str | None = None) -> dict[str, Any]:
    where = quarantine_location(key, version_id=version_id, etag=etag, incoming_prefix=settings.incoming_prefix,
                                quarantine_prefix=settings.quarantine_prefix)
    return {
        "valid": False,
        "bucket": bucket,
        "key": key,
        "etag": etag,
        "version_id": version_id,
        "reason_code": rejection.reason_code,
        "reason": rejection.reason,
        "copy_source": copy_source(bucket, key, version_id),
        "quarantine_key": where.image_key,
        "reason_key": where.reason_key,
        "reason_record": {
            "bucket": bucket,
            "key": key,
            "version_id": version_id,
            "etag": etag,
            "reason_code": rejection.reason_code,
            "reason": rejection.reason,
            "detected_at": detected_at or utc_now_iso(),
        },
    }
