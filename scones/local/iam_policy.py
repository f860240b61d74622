"""Evaluate IAM identity-based policy statements the way AWS does, for the requests our code makes.

Contract
    `evaluate(statements, action, resource, context)` -> `Decision`: `EXPLICIT_DENY` when a Deny
    statement matches, else `ALLOW` when an Allow statement matches, else `IMPLICIT_DENY` (AWS's
    evaluation logic for one principal's identity-based policies; no permission boundaries, SCPs,
    session or resource-based policies, none of which this product uses on its roles).

    A statement matches when its Action (or NotAction) covers `action` (case-insensitive, `*`/`?`
    wildcards), its Resource (or NotResource) covers `resource` (case-sensitive wildcards) and
    every condition holds for `context` (request keys such as `s3:prefix`). Conditions support
    the String*, Arn*, Numeric*, Bool and Null operators with the `...IfExists` suffix and the
    `ForAnyValue:`/`ForAllValues:` set prefixes; any other operator raises `UnsupportedPolicy`
    rather than being guessed.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


class UnsupportedPolicy(ValueError):
    """A policy uses an element or operator this evaluator does not implement (named in the message)."""


@lru_cache(maxsize=4096)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    # IAM wildcards: '*' any run of characters, '?' one character; nothing else is special.
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$", (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL)


def wildcard_match(glob: str, value: str, ignore_case: bool = False) -> bool:
    return bool(_pattern(glob, ignore_case).match(value))


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _string_compare(operator: str, expected: str, actual: str) -> bool:
    if operator in ("StringEquals", "ArnEquals"):
        return expected == actual
    if operator == "StringEqualsIgnoreCase":
        return expected.lower() == actual.lower()
    if operator in ("StringLike", "ArnLike"):
        return wildcard_match(expected, actual)
    raise AssertionError(operator)


_POSITIVE = {"StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike"}
_NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike"}
_NUMERIC = {"NumericEquals": lambda a, b: a == b, "NumericNotEquals": lambda a, b: a != b,
            "NumericLessThan": lambda a, b: a < b, "NumericLessThanEquals": lambda a, b: a <= b,
            "NumericGreaterThan": lambda a, b: a > b, "NumericGreaterThanEquals": lambda a, b: a >= b}


def _value_matches(operator: str, expected: Sequence[Any], actual: str) -> bool:
    """One context value against the condition's values (any of them)."""
    if operator in _POSITIVE:
        return any(_string_compare(operator, str(e), actual) for e in expected)
    if operator in _NEGATED:
        return not any(_string_compare(_NEGATED[operator], str(e), actual) for e in expected)
    if operator in _NUMERIC:
        return any(_NUMERIC[operator](float(actual), float(e)) for e in expected)
    if operator == "Bool":
        return any(str(e).lower() == str(actual).lower() for e in expected)
    raise UnsupportedPolicy(f"condition operator {operator!r} is not supported")


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, Any]) -> bool:
    expected = _as_list(expected)
    present = key in context and context[key] is not None
    if operator == "Null":
        return any((str(e).lower() == "true") == (not present) for e in expected)
    set_prefix, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if set_prefix not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedPolicy(f"condition set operator {set_prefix!r} is not supported")
    if base not in _POSITIVE and base not in _NEGATED and base not in _NUMERIC and base != "Bool":
        raise UnsupportedPolicy(f"condition operator {operator!r} is not supported")
    if not present:
        # A missing key matches nothing: a negated operator (or ...IfExists, or ForAllValues over
        # an empty set) then holds, a positive one does not.
        return if_exists or base in _NEGATED or set_prefix == "ForAllValues"
    values = [str(v) for v in _as_list(context[key])]
    if set_prefix == "ForAllValues":
        return all(_value_matches(base, expected, v) for v in values)
    if set_prefix == "ForAnyValue" or len(values) == 1:
        return any(_value_matches(base, expected, v) for v in values)
    raise UnsupportedPolicy(f"condition key {key!r} has several values; use ForAnyValue/ForAllValues")


@dataclass(frozen=True)
class Statement:
    """One policy statement, its CloudFormation tokens already resolved to strings."""

    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: Mapping[str, Mapping[str, Any]]
    not_action: bool = False
    not_resource: bool = False
    source: str = ""  # where it came from (the policy's logical id), for messages

    @classmethod
    def from_json(cls, statement: Mapping[str, Any], source: str = "") -> "Statement":
        unknown = set(statement) - {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
        if unknown:
            raise UnsupportedPolicy(f"{source}: statement element(s) {sorted(unknown)} are not supported")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise UnsupportedPolicy(f"{source}: Effect must be Allow or Deny, got {statement.get('Effect')!r}")
        return cls(
            effect=statement["Effect"],
            actions=tuple(_as_list(statement.get("Action", statement.get("NotAction", [])))),
            resources=tuple(_as_list(statement.get("Resource", statement.get("NotResource", [])))),
            conditions=statement.get("Condition", {}),
            not_action="NotAction" in statement,
            not_resource="NotResource" in statement,
            source=source,
        )

    def matches(self, action: str, resource: str, context: Mapping[str, Any]) -> bool:
        covered = any(wildcard_match(a, action, ignore_case=True) for a in self.actions)
        if covered == self.not_action:
            return False
        covered = any(wildcard_match(r, resource) for r in self.resources)
        if covered == self.not_resource:
            return False
        return all(_condition_holds(operator, key, expected, context)
                   for operator, keys in self.conditions.items() for key, expected in keys.items())


def evaluate(statements: Iterable[Statement], action: str, resource: str,
             context: Mapping[str, Any] | None = None) -> Decision:
    """AWS's decision for one request of one principal (see the module docstring)."""
    allowed = False
    for statement in statements:
        if statement.matches(action, resource, context or {}):
            if statement.effect == "Deny":
                return Decision.EXPLICIT_DENY
            allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


__all__ = ["Decision", "Statement", "UnsupportedPolicy", "evaluate", "wildcard_match"]
