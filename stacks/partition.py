"""The AWS partition this product deploys to: the commercial one (`aws`) only.

Why only that one: the workflow functions run with the official Powertools for AWS Lambda layer,
whose publisher account 017000801446 publishes it in the commercial regions. The other partitions
have other publisher accounts, other layer version numbers and not every region (China: one
region, account 498634801083; GovCloud: per-region accounts), and no partition outside `aws` was
ever deployed or tested here. Rather than build an ARN that does not exist there, synthesis
refuses a concrete region of another partition, naming it; an environment-agnostic template
carries only commercial regions in its image mapping, so CloudFormation rejects it in another
partition before creating anything (its Fn::FindInMap has no row for that region).
"""
from __future__ import annotations

import botocore.session
from botocore.exceptions import UnknownRegionError

from .config import ConfigurationError

SUPPORTED_PARTITION = "aws"
POWERTOOLS_PUBLISHER_ACCOUNT = "017000801446"


def partition_of(region: str) -> str | None:
    """The partition botocore's endpoint data puts `region` in (None for a region it does not know)."""
    try:
        return botocore.session.get_session().get_partition_for_region(region)
    except UnknownRegionError:
        return None


def is_supported_region(region: str) -> bool:
    return partition_of(region) == SUPPORTED_PARTITION


def require_supported_region(region: str, what: str) -> None:
    """Raise ConfigurationError for a concrete region outside the commercial partition (`what` says
    which part needs it); regions botocore does not know are left to the per-region checks."""
    partition = partition_of(region)
    if partition is not None and partition != SUPPORTED_PARTITION:
        raise ConfigurationError(
            f"region {region!r} is in AWS partition {partition!r}; this app deploys only to the commercial partition "
            f"'aws' ({what}: the Powertools layer it uses is published by account {POWERTOOLS_PUBLISHER_ACCOUNT} in "
            "commercial regions only; China and GovCloud publish it from other accounts with other version numbers). "
            "Deploy to a commercial region (set CDK_DEFAULT_REGION / the stack env), or adapt the layer ARN and image "
            "mapping for that partition first.")
