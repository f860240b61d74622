"""Helpers shared by the model-server tests (fixtures are in conftest.py)."""
from __future__ import annotations

import base64
from types import SimpleNamespace

ENDPOINT = "scones-vehicle-classifier"
CLASSIFY_CONTEXT = SimpleNamespace(function_name="scones-classify", aws_request_id="0000-1111", memory_limit_in_mb=256,
                                   invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:scones-classify")


def classify_payload(png: bytes, key: str = "incoming/bike.png") -> dict:
    """The state machine's input to the classify step for one serialized image."""
    return {"image": {"valid": True, "bucket": "scones-uploads", "key": key, "etag": "0123", "version_id": None,
                      "content_type": "image/png", "image_data": base64.b64encode(png).decode("ascii")},
            "execution_id": "exec-local-1"}


def first_line(body: bytes | str) -> str:
    """The message of a toolkit error body ("<message>\\n<traceback>")."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    return text.split("\n", 1)[0]
