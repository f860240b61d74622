"""The classes the model tells apart, in the order of its output probabilities.

The training labels, the endpoint's answer `[p_bicycle, p_motorcycle]`, the classify function's
CLASS_NAMES, the per-label metrics and the drift baseline all follow this order.
"""
from __future__ import annotations

from collections.abc import Iterable

CLASS_NAMES: tuple[str, ...] = ("bicycle", "motorcycle")


def validate_class_names(names: Iterable[str], source: str = "class names") -> tuple[str, ...]:
    """At least two distinct, non-empty names; raises ValueError naming `source` otherwise."""
    result = tuple(names)
    if len(result) < 2 or any(not isinstance(n, str) or not n.strip() for n in result) \
            or len(set(result)) != len(result):
        raise ValueError(f"{source} must be at least two distinct, non-empty names, got {list(result)!r}")
    return result


def parse_class_names(raw: str, source: str = "class names") -> tuple[str, ...]:
    """`"bicycle,motorcycle"` -> `("bicycle", "motorcycle")` (validated)."""
    return validate_class_names((part.strip() for part in raw.split(",")), source)
