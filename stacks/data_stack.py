"""The data stack: the one bucket for uploads, training data, models and captured traffic."""
from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .config import SconesConfig
from .nag import acknowledge


def data_bucket_name(stack: Stack, config: SconesConfig) -> str:
    """Deterministic, globally unique per account and region; other stacks derive it the same way."""
    return _bucket_name(config, stack.account, stack.region)


def data_object_arn_finding(config: SconesConfig, pattern: str) -> str:
    """How cdk-nag prints an object-ARN wildcard of the data bucket, for exact acknowledgments."""
    return f"Resource::arn:<AWS::Partition>:s3:::{_bucket_name(config, '<AWS::AccountId>', '<AWS::Region>')}/{pattern}"


def _bucket_name(config: SconesConfig, account: str, region: str) -> str:
    return f"{config.project_name}-data-{account}-{region}"


class DataStack(Stack):
    """Hardened S3: private, encrypted, SSL-only, versioned, access-logged, EventBridge-enabled.

    Removal policy: by default the data bucket is RETAINED on `cdk destroy` because it holds
    the drivers' uploads, quarantined evidence and captured traffic; `bucket_removal_policy=destroy`
    (for throwaway environments) empties and deletes it.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: SconesConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        destroy = config.storage.removal_policy == "destroy"
        removal = RemovalPolicy.DESTROY if destroy else RemovalPolicy.RETAIN

        self.access_logs_bucket = s3.Bucket(
            self, "AccessLogsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(365))],
            removal_policy=removal,
            auto_delete_objects=destroy,
        )
        acknowledge(self.access_logs_bucket, "S1",
                    "This bucket is the server-access-log target of the data bucket; logging it to itself would loop.")

        self.bucket = s3.Bucket(
            self, "DataBucket",
            bucket_name=data_bucket_name(self, config),
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            event_bridge_enabled=True,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="data-bucket/",
            lifecycle_rules=self._lifecycle_rules(config),
            removal_policy=removal,
            auto_delete_objects=destroy,
        )

        # CDK's singleton that turns on EventBridge notifications lives at the stack root.
        acknowledge(self, "IAM4",
                    "CDK's own BucketNotificationsHandler (it enables EventBridge delivery on the bucket at deploy "
                    "time) uses AWSLambdaBasicExecutionRole for its logs only; it is not part of the product's runtime.",
                    ["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"])

    @staticmethod
    def _lifecycle_rules(config: SconesConfig) -> list[s3.LifecycleRule]:
        """Captured traffic cools then expires; quarantine evidence expires; old versions don't pile up."""
        return [
            s3.LifecycleRule(
                id="captured-traffic",
                prefix=config.bucket.capture_prefix,
                transitions=[s3.Transition(storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                                           transition_after=Duration.days(config.storage.capture_transition_days))],
                expiration=Duration.days(config.storage.capture_expiration_days),
            ),
            s3.LifecycleRule(
                id="quarantine",
                prefix=config.bucket.quarantine_prefix,
                expiration=Duration.days(config.storage.quarantine_expiration_days),
            ),
            s3.LifecycleRule(
                id="noncurrent-versions-and-uploads",
                noncurrent_version_expiration=Duration.days(config.storage.noncurrent_version_expiration_days),
                abort_incomplete_multipart_upload_after=Duration.days(7),
            ),
        ]
