"""What AWS authorizes per API call (scones.local.iam_requests), for the calls the product makes."""
from __future__ import annotations

import pytest

from scones.local.iam_requests import Call, Peek, UnmappedOperation, copy_source, requirements

B = "scones-data-123456789012-us-east-1"


def needed(service: str, operation: str, peek: Peek | None = None, **params) -> set[tuple[str, str]]:
    call = Call(service, operation, params, "us-east-1", "123456789012")
    return {(r.action, r.resource) for r in requirements(call, peek)}


class Tagged(Peek):
    def object_tags(self, bucket, key, version_id):
        return {"driver": "42"}


def test_reads_name_the_version_form_when_a_version_is_asked_for():
    assert needed("s3", "GetObject", Bucket=B, Key="incoming/a.png") == {("s3:GetObject", f"arn:aws:s3:::{B}/incoming/a.png")}
    assert needed("s3", "HeadObject", Bucket=B, Key="incoming/a.png", VersionId="v1") == {
        ("s3:GetObjectVersion", f"arn:aws:s3:::{B}/incoming/a.png")}


def test_copy_object_reads_the_source_and_copies_its_tags_unless_replaced():
    source = "scones-data-123456789012-us-east-1/incoming/%C3%BC%20a.png?versionId=v1"  # URL-encoded, as AWS takes it
    assert copy_source(source) == (B, "incoming/ü a.png", "v1")
    target = f"arn:aws:s3:::{B}/quarantine/x"
    untagged = needed("s3", "CopyObject", Bucket=B, Key="quarantine/x", CopySource=source)
    assert untagged == {("s3:PutObject", target), ("s3:GetObjectVersion", f"arn:aws:s3:::{B}/incoming/ü a.png")}
    tagged = needed("s3", "CopyObject", Tagged(), Bucket=B, Key="quarantine/x", CopySource=source)
    assert tagged - untagged == {("s3:GetObjectVersionTagging", f"arn:aws:s3:::{B}/incoming/ü a.png"),
                                 ("s3:PutObjectTagging", target)}
    replaced = needed("s3", "CopyObject", Tagged(), Bucket=B, Key="quarantine/x", CopySource=source,
                      TaggingDirective="REPLACE")
    assert replaced == untagged
    assert ("s3:PutObjectTagging", target) in needed("s3", "CopyObject", Bucket=B, Key="quarantine/x",
                                                     CopySource={"Bucket": B, "Key": "k"}, TaggingDirective="REPLACE",
                                                     Tagging="a=b")


def test_listing_carries_the_prefix_as_condition_context():
    call = Call("s3", "ListObjectsV2", {"Bucket": B, "Prefix": "datacapture/"}, "us-east-1", "123456789012")
    listing, = requirements(call)
    assert (listing.action, listing.resource, dict(listing.context)) == (
        "s3:ListBucket", f"arn:aws:s3:::{B}", {"s3:prefix": "datacapture/"})


def test_other_services_resources():
    assert needed("lambda", "Invoke", FunctionName="fn") == {
        ("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:fn")}
    assert needed("sqs", "SendMessage", QueueUrl="https://sqs.us-east-1.amazonaws.com/123456789012/q") == {
        ("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q")}
    assert needed("events", "PutEvents", Entries=[{"EventBusName": "routing", "Source": "s"}]) == {
        ("events:PutEvents", "arn:aws:events:us-east-1:123456789012:event-bus/routing")}
    assert needed("dynamodb", "PutItem", TableName="Claims") == {
        ("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/Claims")}
    assert needed("sagemaker-runtime", "InvokeEndpoint", EndpointName="Scones-EP") == {
        ("sagemaker:InvokeEndpoint", "arn:aws:sagemaker:us-east-1:123456789012:endpoint/scones-ep")}
    assert needed("cloudwatch", "DescribeAlarms", AlarmNames=["a"]) == {
        ("cloudwatch:DescribeAlarms", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a")}


def test_creating_a_training_job_passes_its_role_and_tags_it():
    role = "arn:aws:iam::123456789012:role/TrainingJobRole"
    call = Call("sagemaker", "CreateTrainingJob", {"TrainingJobName": "Scones-1", "RoleArn": role, "Tags": [{}]},
                "us-east-1", "123456789012")
    found = {(r.action, r.resource): r for r in requirements(call)}
    job = "arn:aws:sagemaker:us-east-1:123456789012:training-job/scones-1"
    assert set(found) == {("sagemaker:CreateTrainingJob", job), ("iam:PassRole", role), ("sagemaker:AddTags", job)}
    assert found[("iam:PassRole", role)].context == {"iam:PassedToService": "sagemaker.amazonaws.com"}


def test_an_operation_without_a_mapping_is_named_not_passed():
    with pytest.raises(UnmappedOperation, match="s3:DeleteBucket"):
        requirements(Call("s3", "DeleteBucket", {"Bucket": B}, "us-east-1", "123456789012"))
    with pytest.raises(UnmappedOperation, match="states:SendTaskSuccess"):
        requirements(Call("states", "SendTaskSuccess", {}, "us-east-1", "123456789012"))
