"""Where a refused upload goes: the quarantine layout of the data bucket.

An upload `incoming/<rel>` (version V, ETag E) that must not be routed (serialize refused it, or
a reviewer rejected it) is copied, never moved, into a folder of its own::

    quarantine/<rel>/<id>/upload         the upload's bytes (that version)
    quarantine/<rel>/<id>/reason.json    {"bucket", "key", "version_id", "etag", "reason_code",
                                          "reason", "detected_at"}

    <id> = upload_id(key, V, E): 16 hex characters of a SHA-256 over the three

Why this shape:

* Unique per upload. Every image key ends in `/<id>/upload` and every reason key in
  `/<id>/reason.json`, so no image key equals a reason key; `<id>` has a fixed length, so two equal
  keys have the same `<rel>` and `<id>`: the same upload. An upload named `X.reason.json` cannot
  overwrite the record of `X`, and two refused versions of one key keep both records. A redelivered
  event for the same version writes the same keys again (idempotent).
* Valid S3 keys (at most 1024 bytes of UTF-8, which AWS enforces and moto does not): `<rel>` is
  cut on a character boundary so that the longest key fits; the full key is in the record.
* Found by name: the folder starts with the upload's own path.

CopySource (`copy_source`) is URL-quoted (a key is data, whatever characters it holds) and names
the version that was judged, so a newer upload at the same key is never copied in its place.
"""
from __future__ import annotations

import hashlib
import urllib.parse
from dataclasses import dataclass

MAX_KEY_BYTES = 1024  # S3's limit on an object key, in bytes of UTF-8
# The longest prefix the configuration accepts: leaves room for a useful part of the upload's path.
MAX_PREFIX_BYTES = 256
UPLOAD_ID_CHARS = 16
IMAGE_NAME = "upload"
REASON_NAME = "reason.json"
_LONGEST_TAIL = len(f"/{'0' * UPLOAD_ID_CHARS}/") + max(len(IMAGE_NAME), len(REASON_NAME))


@dataclass(frozen=True)
class QuarantineLocation:
    upload_id: str
    image_key: str
    reason_key: str


def upload_id(key: str, version_id: str | None, etag: str | None) -> str:
    """A short, stable name for one upload (one version of one key)."""
    text = "\n".join((key, version_id or "", etag or ""))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:UPLOAD_ID_CHARS]


def quarantine_location(key: str, *, version_id: str | None, etag: str | None, incoming_prefix: str,
                        quarantine_prefix: str) -> QuarantineLocation:
    """Where upload `key` (that version, that ETag) and its reason record go; both keys <= 1024 bytes.

    A key outside `incoming_prefix` keeps its whole path under `quarantine_prefix`.
    """
    if not quarantine_prefix or len(quarantine_prefix.encode()) > MAX_PREFIX_BYTES:
        raise ValueError(f"quarantine prefix must be 1..{MAX_PREFIX_BYTES} bytes, got {quarantine_prefix!r}")
    rel = key[len(incoming_prefix):] if incoming_prefix and key.startswith(incoming_prefix) else key
    budget = MAX_KEY_BYTES - len(quarantine_prefix.encode()) - _LONGEST_TAIL
    folder = f"{quarantine_prefix}{truncate_utf8(rel, budget)}/{upload_id(key, version_id, etag)}/"
    return QuarantineLocation(upload_id=folder[-UPLOAD_ID_CHARS - 1:-1], image_key=folder + IMAGE_NAME,
                              reason_key=folder + REASON_NAME)


def truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` whose UTF-8 encoding fits in `max_bytes` (never half a character)."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", "ignore")


def copy_source(bucket: str, key: str, version_id: str | None = None) -> str:
    """CopyObject's CopySource: `<bucket>/<quoted key>[?versionId=<quoted id>]`."""
    source = f"{bucket}/{urllib.parse.quote(key, safe='/')}"
    return f"{source}?versionId={urllib.parse.quote(version_id, safe='')}" if version_id else source
