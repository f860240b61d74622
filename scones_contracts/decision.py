"""The routing decision's threshold: its default, its one validity range and the confidence rule.

A prediction is routed automatically when its top probability is at least the threshold. The
threshold is validated here and only here (the config, the Lambdas' environment, the drift
baseline and the CLIs all call `validate_threshold`): for two classes the top probability is
never below 0.5, so a threshold below 0.5 would route everything, and 1.0 would route nothing.
"""
from __future__ import annotations

import math
from typing import Any

DEFAULT_THRESHOLD = 0.93
MIN_THRESHOLD = 0.5  # inclusive
MAX_THRESHOLD = 1.0  # exclusive
THRESHOLD_RANGE = f"{MIN_THRESHOLD} <= threshold < {MAX_THRESHOLD:g}"


def validate_threshold(value: Any, source: str = "threshold") -> float:
    """`value` as a float in [0.5, 1); raises ValueError naming `source` and the range otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{source} must be a number with {THRESHOLD_RANGE}, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{source} must be a number with {THRESHOLD_RANGE}, got {value!r}") from None
    if not (math.isfinite(number) and MIN_THRESHOLD <= number < MAX_THRESHOLD):
        raise ValueError(f"{source} must satisfy {THRESHOLD_RANGE}, got {value!r}")
    return number


def is_confident(top_probability: float, threshold: float) -> bool:
    """The one confidence rule: equal to the threshold counts as confident."""
    return top_probability >= threshold
