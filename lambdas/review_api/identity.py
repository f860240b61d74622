"""Who is calling the review API: the JWT authorizer's claims, and the reviewers-group check.

API Gateway's JWT authorizer (Cognito access tokens) has already refused a missing or invalid token
with 401 before the function runs; it passes the token's claims as strings at
`requestContext.authorizer.jwt.claims`, an array claim flattened to `"[a b]"` (a list is accepted
too: the local review server may pass one). A caller without claims is refused with 401 (the
authorizer was bypassed), one outside the reviewers group with 403 naming the group.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import Forbidden, Unauthorized

GROUPS_CLAIM = "cognito:groups"
NAME_CLAIMS = ("username", "cognito:username", "email", "sub")


@dataclass(frozen=True)
class Reviewer:
    name: str
    groups: tuple[str, ...]


def parse_groups(value: Any) -> tuple[str, ...]:
    """`"[reviewers admins]"` (HTTP API's flattening), `"reviewers"` or `["reviewers", "admins"]`."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(group) for group in value if str(group).strip())
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return tuple(part for part in text.replace(",", " ").split() if part)


def reviewer_from_claims(claims: Mapping[str, Any] | None, group: str) -> Reviewer:
    """The calling reviewer (name: username, else email, else sub); raises Unauthorized / Forbidden."""
    if not claims:
        raise Unauthorized("no verified identity: call the review API with a bearer token")
    name = next((str(claims[c]) for c in NAME_CLAIMS if str(claims.get(c) or "").strip()), "")
    if not name:
        raise Unauthorized("the token names no user (username, email or sub)")
    groups = parse_groups(claims.get(GROUPS_CLAIM))
    if group not in groups:
        raise Forbidden(f"only members of the '{group}' group may review; {name} is not one")
    return Reviewer(name=name, groups=groups)
