"""The review table: pending, decided and expired human reviews (item: `scones_contracts.review`).

On-demand, encrypted with the AWS managed key, point-in-time recovery, TTL on `expires_at`, and
the status index (`status`, `created_at`) that serves "pending, oldest first". It holds ground truth
(every reviewer decision), so it follows the data bucket's removal policy. Its name is derived from
the project name, so other stacks refer to it by name (`review_table_name`) and no export ties them.
"""
from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from scones_contracts.review import INDEX_PROJECTION, STATUS_INDEX, TTL_ATTRIBUTE

from .config import SconesConfig


def review_table_name(config: SconesConfig) -> str:
    return config.resource_name("reviews")


def review_table_arn(scope: Construct, config: SconesConfig) -> str:
    return Stack.of(scope).format_arn(service="dynamodb", resource="table", resource_name=review_table_name(config))


def review_table(scope: Construct, config: SconesConfig) -> dynamodb.Table:
    table = dynamodb.Table(
        scope, "ReviewTable",
        table_name=review_table_name(config),
        partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True),
        time_to_live_attribute=TTL_ATTRIBUTE,
        removal_policy=RemovalPolicy.DESTROY if config.storage.removal_policy == "destroy" else RemovalPolicy.RETAIN,
    )
    table.add_global_secondary_index(
        index_name=STATUS_INDEX,
        partition_key=dynamodb.Attribute(name="status", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="created_at", type=dynamodb.AttributeType.STRING),
        # Only what the listing shows: the task token never reaches the index.
        projection_type=dynamodb.ProjectionType.INCLUDE,
        non_key_attributes=list(INDEX_PROJECTION),
    )
    return table
