"""The review API's settings, from the environment the review stack sets.

    REVIEW_TABLE_NAME           the review table
    REVIEWER_GROUP              the Cognito group whose members may review (`reviewers`)
    LABELS_PREFIX               where labelled examples go in the data bucket (`labels/`)
    IMAGE_URL_EXPIRY_SECONDS    lifetime of the presigned image URLs
    REVIEW_LIST_LIMIT           pending reviews per listing
    CONSOLE_AUTH_DOMAIN / CONSOLE_CLIENT_ID / CONSOLE_IMAGE_ORIGIN   the console page's (console/)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scones_contracts.env import Environment


@dataclass(frozen=True)
class Settings:
    table_name: str
    reviewer_group: str
    labels_prefix: str
    image_url_expiry_seconds: int
    list_limit: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        read = Environment(env)
        return cls(
            table_name=read.text("REVIEW_TABLE_NAME"),
            reviewer_group=read.text("REVIEWER_GROUP"),
            labels_prefix=read.text("LABELS_PREFIX"),
            image_url_expiry_seconds=read.integer("IMAGE_URL_EXPIRY_SECONDS", minimum=1, maximum=7 * 86400),
            list_limit=read.integer("REVIEW_LIST_LIMIT", minimum=1, maximum=1000),
        )
