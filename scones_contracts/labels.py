"""The labels layout: every reviewer decision as a training example, in a form the training code reads.

Written by the review API (one decision at a time, in the bucket under the config's `labels_prefix`),
exported by `scones run --labels-out DIR`, read by the training dataset loader (`scones train --data DIR`)::

    <root>/images/<review id><ext>   the uploaded bytes, unchanged (ext from the bytes: .png .jpg .webp)
    <root>/lists/<review id>.lst     one row: "<index>\t<label>\timages/<review id><ext>\n"

One list fragment per decision, so concurrent decisions never write the same object. A row has the
SageMaker image-classification list format of `train.lst` (label 0=bicycle, 1=motorcycle, in
`classes.CLASS_NAMES` order); its path is relative to <root>. `index` comes from the review id, so the
same decision always gets the same row and rows of different decisions do not collide. A rejected
photo ("not a vehicle") is not an example: nothing is written for it.
"""
from __future__ import annotations

import hashlib

from .classes import CLASS_NAMES

LABEL_IMAGES_DIR = "images"
LABEL_LISTS_DIR = "lists"
LIST_SUFFIX = ".lst"

# The formats an example may have (`images.IMAGE_FORMATS`, what the decoders accept), by their first bytes.
_IMAGE_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", ".png", "image/png"),
    (b"\xff\xd8\xff", ".jpg", "image/jpeg"),
)
OCTET_STREAM = "application/octet-stream"


def _sniff(data: bytes) -> tuple[str, str] | None:
    for magic, extension, content_type in _IMAGE_SIGNATURES:
        if data.startswith(magic):
            return extension, content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp", "image/webp"
    return None


def image_extension(data: bytes) -> str | None:
    """".png", ".jpg" or ".webp" from the first bytes (16 are enough); None if not one of those."""
    found = _sniff(data)
    return found[0] if found else None


def image_content_type(data: bytes) -> str:
    """The image media type from the first bytes; application/octet-stream for anything else, so that an
    upload can never be served as HTML or script whatever its name or declared type."""
    found = _sniff(data)
    return found[1] if found else OCTET_STREAM


def label_index(review_id: str) -> int:
    """The row index of a decision: 48 bits of sha256(review id) (stable, collision-free in practice)."""
    if not review_id:
        raise ValueError("review id must not be empty")
    return int(hashlib.sha256(review_id.encode("utf-8")).hexdigest()[:12], 16)


def image_path(review_id: str, extension: str) -> str:
    """The example's path relative to the labels root: images/<review id><ext>."""
    return f"{LABEL_IMAGES_DIR}/{review_id}{extension}"


def list_path(review_id: str) -> str:
    """The decision's list fragment, relative to the labels root: lists/<review id>.lst."""
    return f"{LABEL_LISTS_DIR}/{review_id}{LIST_SUFFIX}"


def fragment_row(review_id: str, label: str, image_name: str) -> str:
    """The one row of a decision's list fragment; `label` is a class name (a reject is not an example)."""
    if label not in CLASS_NAMES:
        raise ValueError(f"label {label!r} is not a class; expected one of {', '.join(CLASS_NAMES)}")
    return f"{label_index(review_id)}\t{CLASS_NAMES.index(label)}\t{image_name}\n"
