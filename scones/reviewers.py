"""`scones reviewers add EMAIL`: give a person access to the review console (one command).

Creates the user in the deployed reviewer pool (Cognito; the username is the e-mail address, marked
verified) and adds them to the `reviewers` group; Cognito e-mails them a temporary password, and the
console's hosted login asks for a new one and for an authenticator app (when `reviewer_mfa` is
`required`). Adding someone who already exists only (re)adds them to the group. The pool is found by
its name (`<project>-reviewers`) in the region of the AWS profile/environment, or given with
--user-pool-id (the review stack's `ReviewerUserPoolId` output).

The same with the AWS CLI::

    aws cognito-idp admin-create-user --user-pool-id POOL --username ann@example.com \\
        --user-attributes Name=email,Value=ann@example.com Name=email_verified,Value=true \\
        --desired-delivery-mediums EMAIL
    aws cognito-idp admin-add-user-to-group --user-pool-id POOL --username ann@example.com --group-name reviewers
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from scones_contracts.review import REVIEWER_GROUP

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class ReviewerError(RuntimeError):
    """The reviewer could not be added; the message says why."""


def find_pool(client: Any, name: str) -> str:
    """The id of the one user pool called `name`."""
    found = []
    for page in client.get_paginator("list_user_pools").paginate(MaxResults=60):
        found += [pool["Id"] for pool in page["UserPools"] if pool["Name"] == name]
    if len(found) != 1:
        raise ReviewerError(f"expected one user pool named {name!r} in this account and region, found {len(found)}: "
                            "deploy the review stack, or pass --user-pool-id")
    return found[0]


def add_reviewer(client: Any, pool_id: str, email: str) -> dict[str, Any]:
    """Create (unless it exists) the user `email` and put it in the reviewers group."""
    if not _EMAIL.fullmatch(email):
        raise ReviewerError(f"{email!r} is not an e-mail address")
    created = True
    try:
        client.admin_create_user(
            UserPoolId=pool_id, Username=email, DesiredDeliveryMediums=["EMAIL"],
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}])
    except client.exceptions.UsernameExistsException:
        created = False
    client.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=REVIEWER_GROUP)
    return {"user_pool_id": pool_id, "username": email, "created": created, "group": REVIEWER_GROUP}


def cmd_reviewer_add(args: argparse.Namespace) -> int:
    import boto3

    client = boto3.client("cognito-idp", region_name=args.region) if args.region else boto3.client("cognito-idp")
    try:
        pool = args.user_pool_id or find_pool(client, args.config.resource_name("reviewers"))
        result = add_reviewer(client, pool, args.email)
    except ReviewerError as error:
        print(f"scones reviewers add: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


def register(subparsers) -> None:
    reviewer = subparsers.add_parser("reviewers", help="manage who may use the review console")
    actions = reviewer.add_subparsers(dest="reviewers_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a reviewer (Cognito e-mails a temporary password)",
                             description=__doc__.split("\n\n")[0])
    add.add_argument("email", help="the reviewer's e-mail address (also their username)")
    add.add_argument("--user-pool-id", help="the reviewer pool (default: found by its name)")
    add.add_argument("--region", help="AWS region (default: the profile's or AWS_REGION)")
    add.set_defaults(func=cmd_reviewer_add)
