"""The classify function's input: the serialize step's output for a valid image.

    {"image": {"valid": true, "bucket", "key", "etag", "version_id", "image_data": base64 PNG,
               "content_type": "image/png", ...}, "execution_id": str|null}
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator

from scones_contracts.images import PAYLOAD_CONTENT_TYPE

from ..shared.payloads import NonBlank, ObjectRef, StrictModel, parse_payload
from .errors import InvalidRequestError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# InvokeEndpoint accepts bodies up to 6 MB; serialize sends a PNG of at most PAYLOAD_MAX_SIDE
# (<= 512 px) within its byte budget, so this only guards against misuse.
MAX_BODY_BYTES = 6 * 1024 * 1024


def _must_be_true(valid: bool) -> bool:
    if valid is not True:
        raise ValueError("must be true: quarantined images must not be sent to the classifier")
    return valid


class SerializedImage(ObjectRef):
    valid: Annotated[bool, AfterValidator(_must_be_true)]
    image_data: NonBlank
    content_type: Literal["image/png"] = PAYLOAD_CONTENT_TYPE


class ClassifyPayload(StrictModel):
    image: SerializedImage
    execution_id: str | None = None


@dataclass(frozen=True)
class ImageRequest:
    image: SerializedImage
    body: bytes
    execution_id: str | None


def parse_request(event: Any) -> ImageRequest:
    payload = parse_payload(event, ClassifyPayload, InvalidRequestError, "classify payload")
    try:
        body = base64.b64decode(payload.image.image_data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError(f"'image.image_data' is not valid base64: {exc}") from None
    if not body.startswith(PNG_SIGNATURE):
        raise InvalidRequestError("'image.image_data' does not decode to a PNG image")
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequestError(f"'image.image_data' is {len(body)} bytes, above the {MAX_BODY_BYTES}-byte limit")
    return ImageRequest(image=payload.image, body=body, execution_id=payload.execution_id)
