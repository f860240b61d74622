"""Reading a function's configuration from its environment: one parser, one error.

The stacks set every variable a function needs from the one typed config; a function reads them
through `Environment` and fails with :class:`ConfigurationError` naming the variable when one is
missing or invalid, instead of silently falling back to a default. Only tuning knobs the stacks
do not set take a `default`.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from .classes import parse_class_names
from .decision import validate_threshold


class ConfigurationError(ValueError):
    """A configuration value (an environment variable, a config key) is missing or invalid."""


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


class Environment:
    """Typed access to environment variables (`os.environ` unless a mapping is given)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if env is None else env

    def _raw(self, name: str, default: Any) -> str | None:
        raw = self._env.get(name, "").strip()
        if raw:
            return raw
        if default is REQUIRED:
            raise ConfigurationError(f"environment variable {name} is not set (the stack sets it from the config)")
        return None

    def text(self, name: str, default: Any = REQUIRED) -> str:
        raw = self._raw(name, default)
        return default if raw is None else raw

    def integer(self, name: str, default: Any = REQUIRED, *, minimum: int | None = None,
                maximum: int | None = None) -> int:
        raw = self._raw(name, default)
        if raw is None:
            return default
        try:
            value = int(raw.replace("_", ""))
        except ValueError:
            raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
        self._check_bounds(name, value, minimum, maximum)
        return value

    def number(self, name: str, default: Any = REQUIRED, *, minimum: float | None = None,
               maximum: float | None = None, positive: bool = False) -> float:
        raw = self._raw(name, default)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
        if not math.isfinite(value) or (positive and value <= 0):
            raise ConfigurationError(f"{name} must be a {'positive ' if positive else ''}finite number, got {raw!r}")
        self._check_bounds(name, value, minimum, maximum)
        return value

    def names(self, name: str, default: Any = REQUIRED) -> tuple[str, ...]:
        """A comma-separated list (empty items dropped); at least one item."""
        raw = self._raw(name, default)
        if raw is None:
            return default
        items = tuple(item.strip() for item in raw.split(",") if item.strip())
        if not items:
            raise ConfigurationError(f"{name} must list at least one item, got {raw!r}")
        return items

    def class_names(self, name: str = "CLASS_NAMES") -> tuple[str, ...]:
        try:
            return parse_class_names(self.text(name), name)
        except ValueError as err:
            raise ConfigurationError(str(err)) from None

    def threshold(self, name: str = "THRESHOLD") -> float:
        try:
            return validate_threshold(self.text(name), name)
        except ConfigurationError:
            raise
        except ValueError as err:
            raise ConfigurationError(str(err)) from None

    @staticmethod
    def _check_bounds(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            if maximum is None:
                bounds = f">= {minimum}"
            elif minimum is None:
                bounds = f"<= {maximum}"
            else:
                bounds = f"between {minimum} and {maximum}"
            raise ConfigurationError(f"{name} must be {bounds}, got {value:g}")
