"""The endpoint's answer, checked, and the classify function's output.

The endpoint answers `[p_class0, p_class1, ...]` (JSON, CLASS_NAMES order). Output::

    {"bucket", "key", "etag", "version_id",
     "probabilities": {"bicycle": p, "motorcycle": p},     # keys = CLASS_NAMES, in order
     "model_version", "endpoint_name", "variant": InvokedProductionVariant or null, "latency_ms": float}
"""
from __future__ import annotations

import json
import math
from typing import Any

from .errors import BadModelResponseError
from .request import ImageRequest
from .settings import Settings


def parse_probabilities(raw: bytes, class_names: tuple[str, ...], endpoint_name: str,
                        tolerance: float) -> dict[str, float]:
    """Map the endpoint's JSON list onto `class_names`; raises `BadModelResponseError` saying what is wrong."""
    n = len(class_names)
    expected = f"a JSON list of {n} probabilities ({', '.join(class_names)})"
    where = f"endpoint {endpoint_name!r}"
    try:
        values = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        preview = raw[:80].decode("utf-8", "replace")
        raise BadModelResponseError(f"{where} returned a response that is not JSON (expected {expected}): "
                                    f"{preview!r}") from None
    if not isinstance(values, list):
        raise BadModelResponseError(f"{where} returned a JSON {type(values).__name__}, expected {expected}")
    if len(values) != n:
        raise BadModelResponseError(f"{where} returned {len(values)} values, expected {expected}")
    probabilities: dict[str, float] = {}
    for name, value in zip(class_names, values):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise BadModelResponseError(f"{where} returned {value!r} for class {name!r}, expected a finite number")
        if not 0.0 <= value <= 1.0:
            raise BadModelResponseError(f"{where} returned {value!r} for class {name!r}, outside [0, 1]")
        probabilities[name] = float(value)
    total = math.fsum(probabilities.values())
    if abs(total - 1.0) > tolerance:
        raise BadModelResponseError(f"{where} returned probabilities summing to {total:.6g}, expected 1 "
                                    f"(+/- {tolerance:g})")
    return probabilities


def classification_result(request: ImageRequest, probabilities: dict[str, float], settings: Settings,
                          variant: str | None, latency_ms: float) -> dict[str, Any]:
    image = request.image
    return {
        "bucket": image.bucket,
        "key": image.key,
        "etag": image.etag,
        "version_id": image.version_id,
        "probabilities": probabilities,
        "model_version": settings.model_version,
        "endpoint_name": settings.endpoint_name,
        "variant": variant,
        "latency_ms": latency_ms,
    }
