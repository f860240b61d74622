"""The two S3 steps that keep a refused image as evidence: copy the judged version under the
quarantine prefix, then write its reason record beside it (`scones_contracts.quarantine` names both
keys; the input carries them). The upload workflow, the reviewer's reject path and the batch machine
all quarantine through these, so they agree on metadata, tags and grants.
"""
from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct


def quarantine_steps(scope: Construct, bucket: s3.IBucket, *, quarantine_prefix: str, source_prefixes: list[str],
                     where: str, reason_code: str, record: str,
                     names: tuple[str, str] = ("Quarantine image", "Record quarantine reason"),
                     ) -> tuple[tasks.CallAwsService, tasks.CallAwsService]:
    """The copy step and the reason-record step (not yet chained, retried or caught).

    `where` is the JSONPath of the object holding `copy_source`, `quarantine_key` and `reason_key`;
    `reason_code` is the code stored in the copy's metadata (a literal, or a `sfn.JsonPath` string);
    `record` is the JSONPath of the reason record written as JSON; `source_prefixes` are the prefixes
    the copied versions may come from (the role may read only those).
    """
    copy = tasks.CallAwsService(
        scope, names[0],
        service="s3", action="copyObject",
        parameters={
            "Bucket": bucket.bucket_name,
            "CopySource.$": f"{where}.copy_source",
            "Key.$": f"{where}.quarantine_key",
            "MetadataDirective": "REPLACE",
            "Metadata": {"quarantine-reason-code": reason_code},
            # The copy carries no tags: the uploader's tags stay on the upload (kept, versioned) and
            # must not steer the evidence (tag-filtered lifecycle or access rules). Copying them (the
            # default) would also need s3:GetObjectVersionTagging on the upload and
            # s3:PutObjectTagging under the quarantine prefix.
            "TaggingDirective": "REPLACE",
        },
        iam_action="s3:PutObject",
        iam_resources=[bucket.arn_for_objects(f"{quarantine_prefix}*")],
        additional_iam_statements=[iam.PolicyStatement(
            actions=["s3:GetObject", "s3:GetObjectVersion"],
            resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in source_prefixes],
        )],
        # CopyObject answers with a timestamp; keep only what we use.
        result_selector={"etag.$": "$.CopyObjectResult.ETag"},
        result_path="$.quarantine_copy",
    )
    record_step = tasks.CallAwsService(
        scope, names[1],
        service="s3", action="putObject",
        parameters={
            "Bucket": bucket.bucket_name,
            "Key.$": f"{where}.reason_key",
            "Body.$": f"States.JsonToString({record})",
            "ContentType": "application/json",
        },
        iam_action="s3:PutObject",
        iam_resources=[bucket.arn_for_objects(f"{quarantine_prefix}*")],
        result_selector={"etag.$": "$.ETag"},
        result_path="$.quarantine_record",
    )
    return copy, record_step


def quarantined_output(where: str = "$.image") -> dict[str, str]:
    """The `Quarantined` outcome's fields taken from the quarantine instructions at `where`."""
    return {
        "bucket.$": f"{where}.bucket", "key.$": f"{where}.key", "etag.$": f"{where}.etag",
        "reason_code.$": f"{where}.reason_code", "reason.$": f"{where}.reason",
        "quarantine_key.$": f"{where}.quarantine_key", "reason_key.$": f"{where}.reason_key",
    }
