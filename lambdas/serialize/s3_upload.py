"""Reading the upload from S3: find the object (the key may arrive URL-encoded) and read it, bounded.

Takes the boto3 S3 client as an argument, so it runs unchanged against AWS, moto or a local endpoint.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..shared.payloads import unquoted_etag
from .errors import ImageNotFoundError
from .event import ImageEvent

_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchVersion", "NoSuchBucket"}
_ACCESS_DENIED_CODES = {"403", "AccessDenied", "Forbidden"}


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str | None
    version_id: str | None


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _version_kwargs(version_id: str | None) -> dict[str, str]:
    return {"VersionId": version_id} if version_id else {}


def locate_object(s3: Any, event: ImageEvent) -> ObjectInfo:
    """HeadObject the key as given, then (if different) its `unquote_plus` form.

    Raises :class:`ImageNotFoundError` when no candidate exists. A 403 on every candidate is re-raised
    as the original ClientError: without s3:ListBucket S3 answers 403 instead of 404, and that is a
    permissions problem, not a missing image.
    """
    candidates = event.key_candidates()
    failures: list[tuple[str, ClientError]] = []
    for key in candidates:
        try:
            head = s3.head_object(Bucket=event.bucket, Key=key, **_version_kwargs(event.version_id))
        except ClientError as exc:
            code = _error_code(exc)
            if code in _NOT_FOUND_CODES or code in _ACCESS_DENIED_CODES:
                failures.append((code, exc))
                continue
            raise
        return ObjectInfo(bucket=event.bucket, key=key, size=int(head.get("ContentLength", 0)),
                          etag=unquoted_etag(head.get("ETag")), version_id=head.get("VersionId") or event.version_id)
    if all(code in _ACCESS_DENIED_CODES for code, _ in failures):
        raise failures[0][1]
    raise ImageNotFoundError(_not_found_message(event, candidates, failures))


def _not_found_message(event: ImageEvent, candidates: list[str], failures: list[tuple[str, ClientError]]) -> str:
    where = f"s3://{event.bucket}/{event.key}"
    if event.version_id:
        where += f" (version {event.version_id})"
    if any(code == "NoSuchBucket" for code, _ in failures):
        return f"image {where} not found: bucket {event.bucket!r} does not exist"
    message = f"image {where} not found"
    if len(candidates) > 1:
        message += f"; also tried the URL-decoded key {candidates[1]!r}"
    return message


def read_object(s3: Any, info: ObjectInfo, max_bytes: int) -> tuple[bytes, str | None, str | None]:
    """GetObject, reading at most `max_bytes + 1` bytes (enough to notice a too-large replacement).

    Returns (data, etag, version_id) of what was actually read.
    """
    try:
        response = s3.get_object(Bucket=info.bucket, Key=info.key, **_version_kwargs(info.version_id))
    except ClientError as exc:
        if _error_code(exc) in _NOT_FOUND_CODES:
            raise ImageNotFoundError(f"image s3://{info.bucket}/{info.key} disappeared before it could be read") from None
        raise
    body = response["Body"]
    try:
        data = body.read(max_bytes + 1)
    finally:
        body.close()
    return data, unquoted_etag(response.get("ETag")) or info.etag, response.get("VersionId") or info.version_id
