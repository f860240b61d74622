"""cdk-nag (3.x) acknowledgments: each names the exact finding and says why it is acceptable."""
from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

PACK = "AwsSolutions"


def acknowledge(scope: IConstruct, rule: str, reason: str, findings: list[str] | None = None) -> None:
    """Acknowledge `rule` (e.g. "IAM5") on `scope`, for the listed finding details only if given.

    A finding detail is what cdk-nag prints in brackets, e.g. "Resource::*".
    """
    ids = [f"{PACK}::{PACK}-{rule}[{f}]" for f in findings] if findings else [f"{PACK}::{PACK}-{rule}"]
    Validations.of(scope).acknowledge(*[Acknowledgment(id=i, reason=reason) for i in ids])
