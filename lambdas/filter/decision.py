"""Pure core of the filter function: validate a classification and apply the confidence threshold.

Typed exceptions (Lambda reports ``errorType`` = class name):

* :class:`InvalidClassificationError` - the payload is not ``{"classification": <classify output>, ...}``.
* :class:`ConfigurationError`         - THRESHOLD is not a number strictly between 0 and 1.

Low confidence is not an error: it is ``{"confident": false, ...}``.
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import Any

DEFAULT_THRESHOLD = 0.93


class FilterError(Exception):
    """Base class of the errors the filter function raises to the state machine."""


class InvalidClassificationError(FilterError):
    """The classification payload is malformed."""


class ConfigurationError(FilterError):
    """An environment variable of the function has an invalid value."""


def threshold_from_env(env: Mapping[str, str] | None = None) -> float:
    env = os.environ if env is None else env
    raw = env.get("THRESHOLD", "").strip()
    if not raw:
        return DEFAULT_THRESHOLD
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"THRESHOLD must be a number strictly between 0 and 1, got {raw!r}") from None
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise ConfigurationError(f"THRESHOLD must be strictly between 0 and 1, got {raw!r}")
    return value


def _is_probability(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and 0.0 <= value <= 1.0
    )


def parse_classification(event: Any) -> Mapping[str, Any]:
    if not isinstance(event, Mapping):
        raise InvalidClassificationError(
            f"payload must be a JSON object with a 'classification', got {type(event).__name__}"
        )
    classification = event.get("classification")
    if not isinstance(classification, Mapping):
        raise InvalidClassificationError("payload must contain 'classification': the classify output object")
    problems: list[str] = []
    for field in ("bucket", "key"):
        if not isinstance(classification.get(field), str) or not classification.get(field):
            problems.append(f"'classification.{field}' must be a non-empty string")
    for field in ("etag", "version_id", "model_version"):
        value = classification.get(field)
        if value is not None and not isinstance(value, str):
            problems.append(f"'classification.{field}' must be a string or null")
    probabilities = classification.get("probabilities")
    if not isinstance(probabilities, Mapping) or not probabilities:
        problems.append("'classification.probabilities' must be a non-empty object of label -> probability")
    else:
        for label, value in probabilities.items():
            if not isinstance(label, str) or not label:
                problems.append("probability labels must be non-empty strings")
            elif not _is_probability(value):
                problems.append(f"probability of {label!r} must be a number in [0, 1], got {value!r}")
    if problems:
        raise InvalidClassificationError("invalid classification: " + "; ".join(problems))
    return classification


def decide(classification: Mapping[str, Any], threshold: float) -> dict[str, Any]:
    """Top class and whether its probability reaches ``threshold``.

    A tie for the top probability (only possible with THRESHOLD <= 0.5 for two classes) is never
    confident: the label reported is then the first of the tied labels in payload order.
    """
    probabilities = {label: float(p) for label, p in classification["probabilities"].items()}
    label = max(probabilities, key=probabilities.__getitem__)
    confidence = probabilities[label]
    tied = sum(1 for p in probabilities.values() if p == confidence) > 1
    return {
        "confident": confidence >= threshold and not tied,
        "label": label,
        "confidence": confidence,
        "threshold": threshold,
        "probabilities": probabilities,
        "bucket": classification["bucket"],
        "key": classification["key"],
        "etag": classification.get("etag"),
        "version_id": classification.get("version_id"),
        "model_version": classification.get("model_version"),
    }


def label_metric_name(label: str) -> str:
    """'bicycle' -> 'PredictionsBicycle', 'motor_cycle' -> 'PredictionsMotorCycle'."""
    words = [w for w in re.split(r"[^0-9A-Za-z]+", label) if w]
    suffix = "".join(w[:1].upper() + w[1:] for w in words) or "Unknown"
    return ("Predictions" + suffix)[:255]
