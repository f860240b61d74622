"""training_job: training on deploy (custom resource, Provider framework, evaluation gate inputs) and the
training data upload."""
from __future__ import annotations

import json
import re

from stacks import training_job
from tests.stacks.model_support import (actions_of, built, config, one_resource, raw, resources_in,  # noqa: F401
                                        resources_of_type, statements_of, template)
from tests.stacks.template_helpers import flatten_join


def test_training_job_custom_resource_properties(raw, built, config):
    _, job = one_resource(raw, "Custom::SageMakerTrainingJob")
    props = job["Properties"]
    name = built.model.training_job_name
    assert props["TrainingJobName"] == name
    assert re.fullmatch(rf"{config.project_name}-cifar100-v1-[0-9a-f]{{12}}", name)
    assert re.fullmatch(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", name), "SageMaker job-name rules"
    assert props["InstanceType"] == config.training.instance_type
    assert props["MaxRuntimeInSeconds"] == str(config.training.max_runtime_minutes * 60)
    assert props["VolumeSizeInGB"] == str(config.training.volume_size_gb)
    assert props["MinValidationAccuracy"] == str(config.training.min_validation_accuracy)
    assert flatten_join(props["TrainingDataUri"]).endswith(
        f"/{config.bucket.training_data_prefix}{config.training.data_version}/")
    assert flatten_join(props["OutputUri"]).endswith("/" + config.bucket.training_output_prefix.rstrip("/"))
    assert flatten_join(props["ModelPrefixUri"]).endswith("/" + config.bucket.model_prefix)
    assert flatten_join(props["BaselineUri"]).endswith("/" + config.bucket.baseline_key)
    hp = props["HyperParameters"]
    assert hp["sagemaker_program"] == '"train.py"'
    assert hp["seed"] == json.dumps(config.training.hyperparameters["seed"])
    assert hp["confidence-threshold"] == json.dumps(config.decision.threshold), "training records the routing threshold"
    submit = flatten_join(hp["sagemaker_submit_directory"])
    key = built.model.training.code_asset.s3_object_key
    assert re.fullmatch(r'"\{"Fn::Sub": "s3://cdk-[a-z0-9]+-assets-\$\{AWS::AccountId\}-\$\{AWS::Region\}/'
                        rf'{re.escape(key)}"\}}"', submit), submit
    assert key.endswith(".gz"), "a single-file asset: the tar.gz itself, not a zip of it"
    assert {d["Name"] for d in props["MetricDefinitions"]} >= {"validation:accuracy"}


def test_training_waits_for_data_and_role_policy(raw):
    _, job = one_resource(raw, "Custom::SageMakerTrainingJob")
    depends = job["DependsOn"]
    deployments = resources_of_type(raw, "Custom::CDKBucketDeployment")
    assert set(deployments) <= set(depends) and deployments
    policy = [k for k in resources_of_type(raw, "AWS::IAM::Policy") if k.startswith("TrainingJobRoleDefaultPolicy")]
    assert policy and set(policy) <= set(depends)


def test_provider_framework_wires_on_event_and_is_complete(raw, template):
    _, job = one_resource(raw, "Custom::SageMakerTrainingJob")
    token = job["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
    assert token.startswith("TrainingJobProviderframeworkonEvent")
    framework = raw["Resources"][token]["Properties"]["Environment"]["Variables"]
    assert framework["USER_ON_EVENT_FUNCTION_ARN"]["Fn::GetAtt"][0].startswith("TrainingJobOnEvent")
    assert framework["USER_IS_COMPLETE_FUNCTION_ARN"]["Fn::GetAtt"][0].startswith("TrainingJobIsComplete")
    template.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "lambdas.training_job.handler.on_event", "Runtime": "python3.14", "Architectures": ["arm64"],
        "TracingConfig": {"Mode": "Active"}})
    template.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "lambdas.training_job.handler.is_complete",
        "Environment": {"Variables": {"WAIT_BUDGET_SECONDS": str(training_job.WAIT_BUDGET_SECONDS)}}})
    # The waiter polls every 30 s for up to the hour CloudFormation gives a custom resource, and logs.
    _, machine = one_resource(raw, "AWS::StepFunctions::StateMachine")
    definition = json.loads(flatten_join(machine["Properties"]["DefinitionString"]))
    retry = definition["States"]["framework-isComplete-task"]["Retry"][0]
    assert retry["IntervalSeconds"] == 30 and retry["MaxAttempts"] == 120 and retry["BackoffRate"] == 1
    assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ALL"


def test_provider_handlers_have_least_privilege(raw, config):
    job_arn = f":sagemaker:<Ref:AWS::Region>:<Ref:AWS::AccountId>:training-job/{config.project_name}-*"
    on_event = statements_of(raw, "TrainingJobOnEventRole")
    sagemaker = [s for s in on_event if any(a.startswith("sagemaker:") for a in actions_of(s))]
    assert sorted(actions_of(sagemaker[0])) == ["sagemaker:AddTags", "sagemaker:CreateTrainingJob",
                                               "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"]
    assert all(r.endswith(job_arn) for r in resources_in(sagemaker[0]))
    pass_role = [s for s in on_event if "iam:PassRole" in actions_of(s)]
    assert len(pass_role) == 1
    assert pass_role[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert pass_role[0]["Resource"]["Fn::GetAtt"][0].startswith("TrainingJobRole")

    is_complete = statements_of(raw, "TrainingJobIsCompleteRole")
    s3 = {a: resources_in(s) for s in is_complete for a in actions_of(s) if a.startswith("s3:")}
    assert set(s3) == {"s3:GetObject", "s3:PutObject"}
    assert all(r.endswith(f"/{config.bucket.training_output_prefix}*") for r in s3["s3:GetObject"])
    assert all(r.endswith(f"/{config.bucket.model_prefix}*") for r in s3["s3:PutObject"])
    describe = [s for s in is_complete if "sagemaker:DescribeTrainingJob" in actions_of(s)]
    assert actions_of(describe[0]) == ["sagemaker:DescribeTrainingJob"]


def test_training_data_is_deployed_to_its_versioned_prefix_and_confined(raw, built, config):
    _, deployment = one_resource(raw, "Custom::CDKBucketDeployment")
    props = deployment["Properties"]
    assert props["DestinationBucketKeyPrefix"] == f"{config.bucket.training_data_prefix}{config.training.data_version}/"
    assert props["Prune"] is True and props["RetainOnDelete"] is True
    assert props["SourceObjectKeys"] == [built.model.training.data_asset.s3_object_key]
    deny = [s for s in statements_of(raw, "TrainingDataDeploymentRole") if s["Effect"] == "Deny"]
    assert len(deny) == 1 and "Resource" not in deny[0]
    allowed = [flatten_join(r) for r in deny[0]["NotResource"]]
    assert allowed[0].endswith(f"/{config.bucket.training_data_prefix}{config.training.data_version}/*")
    assert allowed[1].endswith(f"/{built.model.training.data_asset.s3_object_key}")
    assert set(actions_of(deny[0])) == {"s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*", "s3:Abort*"}
