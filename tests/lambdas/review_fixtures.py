"""A moto review table shaped like the synthesized one, for the review functions' tests."""
from __future__ import annotations

import pytest
from moto import mock_aws

from lambdas.shared import aws_clients
from scones_contracts.review import INDEX_PROJECTION, STATUS_INDEX

TABLE = "scones-reviews"  # the templates' review table (config.resource_name("reviews"))
REVIEW_ENVIRONMENT = {"REVIEW_TABLE_NAME": TABLE, "REVIEW_TIMEOUT_SECONDS": "86400", "REVIEW_RETENTION_DAYS": "90"}


def create_review_table(client, name: str = TABLE) -> None:
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": name_, "AttributeType": "S"} for name_ in ("id", "status", "created_at")],
        GlobalSecondaryIndexes=[{"IndexName": STATUS_INDEX, "KeySchema": [
            {"AttributeName": "status", "KeyType": "HASH"}, {"AttributeName": "created_at", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(INDEX_PROJECTION)}}])


@pytest.fixture
def dynamodb(monkeypatch):
    for name, value in REVIEW_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = aws_clients.client("dynamodb")
        create_review_table(client)
        yield client
