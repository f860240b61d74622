"""partition: the app deploys to the commercial partition only. The Powertools layer ARN names the
commercial publisher account and the image mapping lists commercial regions only, so a China or
GovCloud region is refused at synth with a message that names the partition and what to do."""
from __future__ import annotations

import pytest
from aws_cdk import App, Environment

from stacks.config import ConfigurationError, SconesConfig
from stacks.model_stack import ModelStack
from stacks.partition import partition_of, require_supported_region
from stacks.workflow_stack import WorkflowStack

OTHER_PARTITIONS = [("cn-north-1", "aws-cn"), ("cn-northwest-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"),
                    ("us-gov-east-1", "aws-us-gov")]


@pytest.mark.parametrize("region,partition", OTHER_PARTITIONS)
def test_model_stack_refuses_a_region_outside_the_commercial_partition(tmp_path, region, partition):
    with pytest.raises(ConfigurationError) as refused:
        ModelStack(App(outdir=str(tmp_path)), "Elsewhere", config=SconesConfig(),
                   env=Environment(account="123456789012", region=region))
    message = str(refused.value)
    assert f"region {region!r} is in AWS partition {partition!r}" in message
    assert "commercial partition 'aws'" in message and "Powertools layer" in message
    assert "Deploy to a commercial region" in message


@pytest.mark.parametrize("region,partition", OTHER_PARTITIONS[::2])
def test_workflow_stack_refuses_a_region_whose_powertools_layer_it_cannot_name(tmp_path, region, partition):
    with pytest.raises(ConfigurationError, match=rf"partition '{partition}'.*Powertools layer of the workflow functions"):
        WorkflowStack(App(outdir=str(tmp_path)), "Elsewhere", config=SconesConfig(), endpoint_name="scones-endpoint",
                      env=Environment(account="123456789012", region=region))


def test_commercial_regions_synthesize_with_the_commercial_layer_arn(tmp_path):
    app = App(outdir=str(tmp_path))
    stack = WorkflowStack(app, "Commercial", config=SconesConfig(), endpoint_name="scones-endpoint",
                          env=Environment(account="123456789012", region="eu-west-1"))
    layer_arn = stack.resolve(stack.powertools_layer.layer_version_arn)
    assert isinstance(layer_arn, str) and layer_arn.startswith("arn:aws:lambda:eu-west-1:017000801446:layer:"), layer_arn


def test_partition_lookup_uses_botocore_endpoint_data():
    assert partition_of("eu-central-2") == "aws"
    assert partition_of("cn-north-1") == "aws-cn"
    assert partition_of("us-iso-east-1") == "aws-iso"
    assert partition_of("xx-nowhere-1") is None
    require_supported_region("us-east-1", "anything")  # no error
    require_supported_region("xx-nowhere-1", "anything")  # left to the image-table check (no image there)
    with pytest.raises(ConfigurationError, match="aws-iso"):
        require_supported_region("us-iso-east-1", "anything")
