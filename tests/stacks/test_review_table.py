"""stacks/review_table.py: the review table in the workflow template (encryption, PITR, TTL, the status
index that never holds the task token, the removal policy)."""
from __future__ import annotations

import pytest

from scones_contracts.review import INDEX_PROJECTION, STATUS_INDEX
from tests.stacks.template_helpers import cdk_template, review_table, template_of


@pytest.fixture(scope="module")
def raw(assembly):
    return template_of(assembly, "Workflow")[1]


@pytest.fixture(scope="module")
def template(assembly):
    return cdk_template(assembly, "Workflow")


@pytest.fixture(scope="module")
def config(assembly):
    return assembly.config


def test_review_table_is_on_demand_encrypted_recoverable_and_expires_items(template, config):
    template.has_resource_properties("AWS::DynamoDB::Table", {
        "TableName": config.resource_name("reviews"),
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": {"SSEEnabled": True},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    })


def test_the_status_index_serves_pending_oldest_first_and_never_holds_the_token(raw):
    _, resource = review_table(raw)
    (index,) = resource["Properties"]["GlobalSecondaryIndexes"]
    assert index["IndexName"] == STATUS_INDEX
    assert index["KeySchema"] == [{"AttributeName": "status", "KeyType": "HASH"},
                                  {"AttributeName": "created_at", "KeyType": "RANGE"}]
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    assert sorted(index["Projection"]["NonKeyAttributes"]) == sorted(INDEX_PROJECTION)
    assert "task_token" not in index["Projection"]["NonKeyAttributes"]


def test_review_table_follows_the_data_removal_policy(raw, config):
    _, resource = review_table(raw)
    assert config.storage.removal_policy == "retain"
    assert resource["DeletionPolicy"] == "Retain" and resource["UpdateReplacePolicy"] == "Retain"
