"""Data stack: the hardened bucket, by snapshot and by assertion."""
import pytest
from aws_cdk.assertions import Match

from tests.conftest import mask_asset_hashes
from tests.stacks.template_helpers import cdk_template, template_of


@pytest.fixture(scope="module")
def template(assembly):
    return cdk_template(assembly, "Data")


def test_snapshot(assembly, snapshot):
    assert mask_asset_hashes(template_of(assembly, "Data")[1]) == snapshot


def test_data_bucket_is_private_encrypted_versioned_and_logged(template):
    template.has_resource_properties("AWS::S3::Bucket", {
        "BucketName": Match.any_value(),
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                           "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "VersioningConfiguration": {"Status": "Enabled"},
        "LoggingConfiguration": {"DestinationBucketName": Match.any_value(), "LogFilePrefix": "data-bucket/"},
    })


def test_every_bucket_denies_plain_http(template):
    buckets = template.find_resources("AWS::S3::Bucket")
    policies = template.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == len(buckets) == 2
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in statements)


def test_lifecycle_rules_cool_and_expire_captured_traffic(template):
    template.has_resource_properties("AWS::S3::Bucket", {
        "LifecycleConfiguration": {"Rules": Match.array_with([
            Match.object_like({"Id": "captured-traffic", "Prefix": "datacapture/", "ExpirationInDays": 365,
                               "Transitions": [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]}),
            Match.object_like({"Id": "quarantine", "Prefix": "quarantine/", "ExpirationInDays": 180}),
            Match.object_like({"NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                               "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}),
        ])},
    })


def test_eventbridge_notifications_enabled(template):
    template.has_resource_properties("Custom::S3BucketNotifications", {
        "NotificationConfiguration": {"EventBridgeConfiguration": {}},
    })


def test_data_is_retained_by_default(template):
    buckets = template.find_resources("AWS::S3::Bucket")
    assert all(b["DeletionPolicy"] == "Retain" for b in buckets.values())
