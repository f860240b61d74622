"""sagemaker_role: the training job's and the endpoint's SageMaker execution roles."""
from __future__ import annotations

from tests.stacks.model_support import actions_of, built, config, raw, resources_in, statements_of  # noqa: F401


def test_training_role_reads_its_data_and_code_and_writes_output_only(raw, built, config):
    statements = {s.get("Sid"): s for s in statements_of(raw, "TrainingJobRole") if s.get("Sid")}
    data_prefix = f"{config.bucket.training_data_prefix}{config.training.data_version}/"
    assert resources_in(statements["ReadTrainingData"])[0].endswith(f"/{data_prefix}*")
    assert statements["ListTrainingData"]["Condition"] == {"StringLike": {"s3:prefix": [f"{data_prefix}*"]}}
    code = resources_in(statements["ReadTrainingCode"])
    assert len(code) == 1 and code[0].endswith(f"/{built.model.training.code_asset.s3_object_key}") and "*" not in code[0]
    assert sorted(actions_of(statements["WriteTrainingOutput"])) == ["s3:AbortMultipartUpload", "s3:PutObject"]
    assert resources_in(statements["WriteTrainingOutput"])[0].endswith(f"/{config.bucket.training_output_prefix}*")
    pull = resources_in(statements["PullFrameworkImage"])
    assert pull == ['arn:<Ref:AWS::Partition>:ecr:<Ref:AWS::Region>:'
                    '{"Fn::FindInMap": ["PyTorchImages", {"Ref": "AWS::Region"}, "TrainingRegistry"]}'
                    ':repository/pytorch-training']
    assert actions_of(statements["EcrLogin"]) == ["ecr:GetAuthorizationToken"]
    assert statements["Metrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}}
    streams = resources_in(statements["LogStreams"])[0]
    assert streams.endswith(f":log-group:/aws/sagemaker/TrainingJobs:log-stream:{config.project_name}-*")


def test_endpoint_role_reads_models_writes_capture_pulls_its_image(raw, config):
    statements = {s.get("Sid"): s for s in statements_of(raw, "ModelExecutionRole") if s.get("Sid")}
    assert actions_of(statements["ReadModels"]) == ["s3:GetObject"]
    assert resources_in(statements["ReadModels"])[0].endswith(f"/{config.bucket.model_prefix}*")
    assert resources_in(statements["WriteDataCapture"])[0].endswith(f"/{config.bucket.capture_prefix}*")
    assert resources_in(statements["PullFrameworkImage"])[0].endswith(":repository/pytorch-inference")
    assert statements["Metrics"]["Condition"]["StringEquals"]["cloudwatch:namespace"] == \
        f"/aws/sagemaker/Endpoints/{config.endpoint.name}"
    s3_actions = {a for s in statements.values() for a in actions_of(s) if a.startswith("s3:")}
    assert s3_actions == {"s3:GetObject", "s3:PutObject"}
