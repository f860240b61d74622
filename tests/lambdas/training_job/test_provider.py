"""The Custom::SageMakerTrainingJob provider under moto: on_event create/update/delete,
is_complete InProgress/Completed/Failed/Stopped, and the evaluation gate."""
from __future__ import annotations

import io
import json
import re
import tarfile
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from lambdas.training_job import handler, jobs
from lambdas.training_job.promotion import ArtifactError, read_metadata
from lambdas.training_job.jobs import AccuracyGateError, TrainingJobFailed

from tests.lambdas.training_job.provider_helpers import BASELINE, BUCKET, cfn_event, metadata, model_tar_gz, properties

ROOT = Path(__file__).resolve().parents[3]


def _start(aws, **overrides) -> tuple[dict, dict]:
    props = properties(aws.role_arn, **overrides)
    response = handler.on_event(cfn_event("Create", props))
    return props, response


def _put_artifact(aws, job_name: str, tarball: bytes) -> str:
    """What the training leaves behind: SageMaker's own model.tar.gz at ModelArtifacts.S3ModelArtifacts."""
    url = aws.sagemaker.describe_training_job(TrainingJobName=job_name)["ModelArtifacts"]["S3ModelArtifacts"]
    bucket, key = url[len("s3://"):].split("/", 1)
    aws.s3.put_object(Bucket=bucket, Key=key, Body=tarball)
    return key


def _is_complete(props: dict, response: dict, request_type: str = "Create") -> dict:
    return handler.is_complete(cfn_event(request_type, props, physical_id=response["PhysicalResourceId"],
                                         data=response.get("Data")))


# ------------------------------------------------------------------------------ on_event
def test_create_starts_the_job_described_by_the_properties(aws):
    props, response = _start(aws)
    name = props["TrainingJobName"]
    assert response["PhysicalResourceId"] == name
    assert response["Data"]["TrainingJobName"] == name
    assert abs(int(response["Data"]["WaitStartedAt"]) - time.time()) < 60

    job = aws.sagemaker.describe_training_job(TrainingJobName=name)
    assert job["RoleArn"] == aws.role_arn
    assert job["AlgorithmSpecification"]["TrainingImage"] == props["TrainingImage"]
    assert job["HyperParameters"] == props["HyperParameters"]
    channel = job["InputDataConfig"][0]
    assert channel["ChannelName"] == "training"
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == props["TrainingDataUri"]
    assert job["OutputDataConfig"]["S3OutputPath"] == props["OutputUri"]
    assert job["ResourceConfig"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
    assert job["StoppingCondition"]["MaxRuntimeInSeconds"] == 3600


def test_create_request_carries_metric_definitions_and_tags(aws):
    request = jobs.create_request(properties(aws.role_arn))
    assert request["AlgorithmSpecification"]["MetricDefinitions"][0]["Name"] == "validation:accuracy"
    assert request["Tags"] == [{"Key": "project", "Value": "scones"}]
    assert request["InputDataConfig"][0]["InputMode"] == "File"


def test_metric_definition_matches_the_line_the_training_logs():
    source = (ROOT / "training" / "pipeline.py").read_text()
    assert 'f"validation: accuracy {val[\'accuracy\']:.4f}' in source, "the training's log line changed"
    regex = dict((d["Name"], d["Regex"]) for d in properties("arn")["MetricDefinitions"])["validation:accuracy"]
    line = f"validation: accuracy {0.91234:.4f}, coverage@0.93 0.8123, selective accuracy 0.97, ECE 0.0312; model r9-x"
    assert re.search(regex, line).group(1) == "0.9123"


def test_create_adopts_an_existing_job_of_the_same_name(shim, aws):
    props, first = _start(aws)
    second = handler.on_event(cfn_event("Create", props))
    assert second["PhysicalResourceId"] == first["PhysicalResourceId"]
    assert shim.created == [props["TrainingJobName"]], "the second Create must not start another job"


def test_create_refuses_a_failed_job_of_the_same_name_with_its_reason(shim, aws):
    props, _ = _start(aws)
    shim.status[props["TrainingJobName"]] = {"TrainingJobStatus": "Failed",
                                             "FailureReason": "AlgorithmError: CUDA not available"}
    with pytest.raises(TrainingJobFailed) as err:
        handler.on_event(cfn_event("Create", props))
    message = str(err.value)
    assert "AlgorithmError: CUDA not available" in message
    assert "training_hyperparameters" in message and "training_data_version" in message


def test_create_retries_while_the_new_role_is_not_assumable_yet(shim, aws, monkeypatch):
    slept = []
    monkeypatch.setattr(jobs.time, "sleep", slept.append)
    shim.create_errors.append(ClientError({"Error": {"Code": "ValidationException",
                                                     "Message": "Could not assume role arn:aws:iam::1:role/x"}},
                                          "CreateTrainingJob"))
    props, response = _start(aws)
    assert slept == [10.0]
    assert shim.created == [props["TrainingJobName"]]
    assert response["PhysicalResourceId"] == props["TrainingJobName"]


def test_create_does_not_retry_other_validation_errors(shim, aws):
    shim.create_errors.append(ClientError({"Error": {"Code": "ValidationException", "Message": "bad instance type"}},
                                          "CreateTrainingJob"))
    with pytest.raises(ClientError, match="bad instance type"):
        _start(aws)
    assert shim.created == []


def test_update_with_the_same_job_name_starts_nothing(shim, aws):
    props, first = _start(aws)
    raised_bar = dict(props, MinValidationAccuracy="0.95")
    response = handler.on_event(cfn_event("Update", raised_bar, physical_id=first["PhysicalResourceId"],
                                          old_props=props))
    assert response["PhysicalResourceId"] == first["PhysicalResourceId"]
    assert shim.created == [props["TrainingJobName"]]


def test_update_with_a_new_job_name_retrains(shim, aws):
    props, first = _start(aws)
    retrain = dict(props, TrainingJobName="scones-cifar100-v2-fedcba987654",
                   HyperParameters=dict(props["HyperParameters"], seed="8"))
    response = handler.on_event(cfn_event("Update", retrain, physical_id=first["PhysicalResourceId"], old_props=props))
    assert response["PhysicalResourceId"] == "scones-cifar100-v2-fedcba987654"
    assert shim.created == [props["TrainingJobName"], "scones-cifar100-v2-fedcba987654"]
    assert aws.sagemaker.describe_training_job(
        TrainingJobName="scones-cifar100-v2-fedcba987654")["HyperParameters"]["seed"] == "8"


def test_delete_stops_a_running_job(shim, aws):
    props, first = _start(aws)
    shim.status[props["TrainingJobName"]] = {"TrainingJobStatus": "InProgress"}
    response = handler.on_event(cfn_event("Delete", props, physical_id=first["PhysicalResourceId"]))
    assert response == {"PhysicalResourceId": props["TrainingJobName"]}
    assert shim.stopped == [props["TrainingJobName"]]


def test_delete_keeps_a_completed_job(shim, aws):
    props, first = _start(aws)
    handler.on_event(cfn_event("Delete", props, physical_id=first["PhysicalResourceId"]))
    assert shim.stopped == []


def test_delete_of_a_create_that_never_started_a_job_succeeds(shim, aws):
    # A failed Create leaves CloudFormation's RequestId as the physical id (Provider framework default).
    props = properties(aws.role_arn)
    response = handler.on_event(cfn_event("Delete", props, physical_id="6c4a9a4b-1111-2222-3333-444455556666"))
    assert response["PhysicalResourceId"] == "6c4a9a4b-1111-2222-3333-444455556666"
    assert shim.stopped == []


def test_describe_propagates_real_errors(shim, aws):
    def denied(**_):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}},
                          "DescribeTrainingJob")
    shim.real = type("Denied", (), {"describe_training_job": staticmethod(denied)})()
    with pytest.raises(ClientError, match="not authorized"):
        jobs.describe(shim, "scones-x")


# --------------------------------------------------------------------------- is_complete
def test_in_progress_is_not_complete_and_returns_no_data(shim, aws):
    props, response = _start(aws)
    shim.status[props["TrainingJobName"]] = {"TrainingJobStatus": "InProgress"}
    assert _is_complete(props, response) == {"IsComplete": False}


def test_in_progress_beyond_the_wait_budget_fails_with_a_clear_message(shim, aws, monkeypatch):
    monkeypatch.setenv("WAIT_BUDGET_SECONDS", "600")
    props, response = _start(aws)
    shim.status[props["TrainingJobName"]] = {"TrainingJobStatus": "InProgress"}
    response["Data"]["WaitStartedAt"] = str(int(time.time()) - 601)
    with pytest.raises(TimeoutError) as err:
        _is_complete(props, response)
    assert props["TrainingJobName"] in str(err.value) and "600 s" in str(err.value)


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_failed_or_stopped_job_fails_the_deploy_with_its_failure_reason(shim, aws, status):
    props, response = _start(aws)
    reason = "ClientError: Please ensure the training data is in s3://.../training-data/cifar100-v1/"
    shim.status[props["TrainingJobName"]] = {"TrainingJobStatus": status, "FailureReason": reason}
    with pytest.raises(TrainingJobFailed) as err:
        _is_complete(props, response)
    assert reason in str(err.value)
    assert status in str(err.value) and props["TrainingJobName"] in str(err.value)


def test_completed_job_above_the_bar_is_promoted_and_reported(aws):
    props, response = _start(aws)
    name = props["TrainingJobName"]
    tarball = model_tar_gz(metadata(0.9312, "r9-aaaabbbbcccc"), BASELINE)
    source_key = _put_artifact(aws, name, tarball)

    result = _is_complete(props, response)

    assert result["IsComplete"] is True
    data = result["Data"]
    assert data["ModelDataUrl"] == f"s3://{BUCKET}/models/{name}/model.tar.gz"
    assert data["TrainingModelDataUrl"] == f"s3://{BUCKET}/{source_key}"
    assert float(data["ValidationAccuracy"]) == pytest.approx(0.9312)
    assert data["ModelVersion"] == "r9-aaaabbbbcccc"
    assert data["TrainingJobName"] == name
    assert data["TrainingJobArn"].endswith(f":training-job/{name}")
    assert all(isinstance(v, str) for v in data.values()), "CloudFormation attributes are strings"
    # The served artifact is byte-identical to what the training produced.
    assert aws.object_bytes(f"models/{name}/model.tar.gz") == tarball
    # baseline.json beside it, and published where the drift check reads it.
    assert json.loads(aws.object_bytes(f"models/{name}/baseline.json")) == BASELINE
    assert json.loads(aws.object_bytes("models/baseline.json")) == BASELINE
    assert data["BaselineUri"] == f"s3://{BUCKET}/models/baseline.json"


def test_baseline_key_ending_in_tar_gz_gets_the_whole_artifact(aws):
    props, response = _start(aws, BaselineUri=f"s3://{BUCKET}/models/current/model.tar.gz")
    tarball = model_tar_gz(metadata(0.95), BASELINE)
    _put_artifact(aws, props["TrainingJobName"], tarball)
    _is_complete(props, response)
    assert aws.object_bytes("models/current/model.tar.gz") == tarball


def test_accuracy_below_the_bar_fails_the_deploy_and_promotes_nothing(aws):
    props, response = _start(aws, MinValidationAccuracy="0.88")
    _put_artifact(aws, props["TrainingJobName"], model_tar_gz(metadata(0.8125, "r9-weakweakweak"), BASELINE))
    with pytest.raises(AccuracyGateError) as err:
        _is_complete(props, response)
    message = str(err.value)
    assert "0.8125" in message and "0.8800" in message and "min_validation_accuracy" in message
    assert "r9-weakweakweak" in message and props["TrainingJobName"] in message
    assert "not created or updated" in message
    assert aws.keys("models/") == [], "a rejected model must not reach the models prefix"


def test_accuracy_exactly_at_the_bar_passes(aws):
    props, response = _start(aws, MinValidationAccuracy="0.9")
    _put_artifact(aws, props["TrainingJobName"], model_tar_gz(metadata(0.9), BASELINE))
    assert _is_complete(props, response)["IsComplete"] is True


def test_raising_the_bar_on_update_reapplies_the_gate_to_the_existing_model(shim, aws):
    props, first = _start(aws)
    _put_artifact(aws, props["TrainingJobName"], model_tar_gz(metadata(0.91), BASELINE))
    assert _is_complete(props, first)["IsComplete"] is True
    stricter = dict(props, MinValidationAccuracy="0.95")
    update = handler.on_event(cfn_event("Update", stricter, physical_id=first["PhysicalResourceId"], old_props=props))
    with pytest.raises(AccuracyGateError, match="0.9100"):
        _is_complete(stricter, update, "Update")
    assert shim.created == [props["TrainingJobName"]]


def test_artifact_without_metadata_fails_clearly(aws):
    props, response = _start(aws)
    _put_artifact(aws, props["TrainingJobName"], model_tar_gz(None, BASELINE))
    with pytest.raises(ArtifactError, match="no top-level metadata.json"):
        _is_complete(props, response)


def test_artifact_without_baseline_fails_clearly(aws):
    props, response = _start(aws)
    _put_artifact(aws, props["TrainingJobName"], model_tar_gz(metadata(0.95), None))
    with pytest.raises(ArtifactError, match="baseline.json"):
        _is_complete(props, response)


def test_missing_artifact_object_names_the_url(aws, iam):
    props, response = _start(aws)
    with pytest.raises(ArtifactError, match=r"cannot read the model artifact s3://.*/model.tar.gz"):
        _is_complete(props, response)
    # The role may not list the bucket, so S3 answers the missing object with 403, not 404 (as in AWS).
    denied, = iam.take_denials()
    assert [r.action for r in denied.denied] == ["s3:ListBucket"]


def test_metadata_without_accuracy_fails_clearly(aws):
    props, response = _start(aws)
    broken = {"model_version": "r9-x", "validation": {"n": 10}}
    _put_artifact(aws, props["TrainingJobName"], model_tar_gz(broken, BASELINE))
    with pytest.raises(ArtifactError, match="validation.accuracy"):
        _is_complete(props, response)


IS_COMPLETE = "lambdas.training_job.handler.is_complete"  # the function that reads artifacts


def test_metadata_is_found_with_or_without_dot_slash_member_names(aws, iam):
    for dot_slash in (True, False):
        key = f"training-output/x/{dot_slash}/model.tar.gz"
        aws.s3.put_object(Bucket=BUCKET, Key=key, Body=model_tar_gz(metadata(0.9, "r9-abc"), dot_slash=dot_slash))
        with iam.roles.running_as(IS_COMPLETE):
            assert read_metadata(aws.s3, f"s3://{BUCKET}/{key}")["model_version"] == "r9-abc"


def test_not_a_tarball_is_an_artifact_error(aws, iam):
    aws.s3.put_object(Bucket=BUCKET, Key="training-output/bad/model.tar.gz", Body=b"not a tarball")
    with iam.roles.running_as(IS_COMPLETE), \
            pytest.raises(ArtifactError, match="model.tar.gz is not a readable tar archive"):
        read_metadata(aws.s3, f"s3://{BUCKET}/training-output/bad/model.tar.gz")


def test_is_complete_on_delete_is_immediately_complete(shim, aws):
    props = properties(aws.role_arn)
    assert handler.is_complete(cfn_event("Delete", props, physical_id=props["TrainingJobName"])) == {"IsComplete": True}


def test_bad_properties_are_reported_by_name(aws):
    with pytest.raises(jobs.PropertyError, match="MaxRuntimeInSeconds"):
        jobs.create_request(properties(aws.role_arn, MaxRuntimeInSeconds="an hour"))
    with pytest.raises(jobs.PropertyError, match="MinValidationAccuracy"):
        jobs.min_accuracy(properties(aws.role_arn, MinValidationAccuracy="1.5"))
    with pytest.raises(jobs.PropertyError, match="TrainingDataUri"):
        jobs.create_request(properties(aws.role_arn, TrainingDataUri=""))


# ------------------------------------------------------------------------------ packaging
def test_streaming_reader_stops_after_the_wanted_members(aws, iam):
    """metadata.json before a large weights file: the reader must not need the rest of the stream."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as archive:
        for name, data in (("metadata.json", json.dumps(metadata(0.9)).encode()), ("model.pth", b"\0" * 2_000_000)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    aws.s3.put_object(Bucket=BUCKET, Key="training-output/s/model.tar.gz", Body=raw.getvalue())
    with iam.roles.running_as(IS_COMPLETE):
        assert read_metadata(aws.s3, f"s3://{BUCKET}/training-output/s/model.tar.gz")["validation"]["accuracy"] == 0.9
