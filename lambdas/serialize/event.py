"""The serialize function's input: the upload event's object, as the upload rule passes it on.

    {"bucket": str, "key": str, "etag": str|null, "version_id": str|null, "size": int|null,
     "execution_id": str|null}
"""
from __future__ import annotations

import urllib.parse
from typing import Annotated, Any

from pydantic import Field

from ..shared.payloads import ObjectRef, parse_payload
from .errors import InvalidEventError


class ImageEvent(ObjectRef):
    size: Annotated[int, Field(ge=0)] | None = None
    execution_id: str | None = None

    def key_candidates(self) -> list[str]:
        """The key as given, then its URL-decoded form (S3 notifications encode keys, '+' for space)."""
        decoded = urllib.parse.unquote_plus(self.key)
        return [self.key] if decoded == self.key or not decoded else [self.key, decoded]


def parse_event(event: Any) -> ImageEvent:
    return parse_payload(event, ImageEvent, InvalidEventError, "event")
