"""Model stack: training on deploy (custom resource), evaluation gate wiring, endpoint, data capture,
blue/green with rollback alarms, autoscaling, least privilege — snapshot and assertions.

The app is synthesized once for this module (cdk-nag on: synthesis itself fails on any
unacknowledged finding).
"""
from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from aws_cdk import App, Environment
from aws_cdk.assertions import Match, Template

from scones_contracts.source_files import files_sha256
from stacks import framework_images, job_identity, sourcedir, training_job
from stacks.app_builder import build_app
from stacks.config import ConfigurationError, SconesConfig
from stacks.image_uris import PYTORCH_IMAGES, SOURCE
from stacks.model_stack import ModelStack
from tests.conftest import ROOT, mask_asset_hashes
from tests.stacks.template_helpers import flatten_join, iam_statements

# Actions AWS only grants on Resource "*" (no resource-level permissions exist for them).
STAR_ONLY_ACTIONS = {
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
    "ecr:GetAuthorizationToken", "cloudwatch:PutMetricData",
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    app = App(outdir=str(tmp_path_factory.mktemp("model-stack-cdk.out")))
    scones = build_app(app)
    assembly = app.synth()  # cdk-nag AwsSolutions runs here and fails synthesis on any finding
    raw = assembly.get_stack_by_name(scones.model.stack_name).template
    workflow = assembly.get_stack_by_name(scones.workflow.stack_name).template
    return SimpleNamespace(model=scones.model, config=scones.config, raw=raw, template=Template.from_json(raw),
                           workflow=workflow, outdir=assembly.directory)


@pytest.fixture(scope="module")
def raw(built):
    return built.raw


@pytest.fixture(scope="module")
def template(built):
    return built.template


@pytest.fixture(scope="module")
def config(built) -> SconesConfig:
    return built.config


def _resources(raw, resource_type):
    return {k: r for k, r in raw["Resources"].items() if r["Type"] == resource_type}


def _one(raw, resource_type):
    found = _resources(raw, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {list(found)}"
    return next(iter(found.items()))


def _statements_of(raw, role_logical_prefix):
    return [s for logical_id, s in iam_statements(raw) if logical_id.startswith(role_logical_prefix)]


def _actions(statement):
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def _resources_of(statement):
    resources = statement.get("Resource", [])
    return [flatten_join(r) for r in (resources if isinstance(resources, list) else [resources])]


# ------------------------------------------------------------------------------ snapshot
def test_snapshot(built, snapshot):
    # Asset hashes and the training job's content hash vary with code, not with infrastructure.
    masked = mask_asset_hashes(built.raw)
    assert built.model.training_job_name not in json.dumps(masked)
    assert "<code-hash>" in json.dumps(masked) and "<asset-hash>" in json.dumps(masked)
    assert masked == snapshot


# ------------------------------------------------------------------ images (generated)
def test_image_mapping_is_the_generated_sdk_table_for_every_region(raw, config):
    mapping = raw["Mappings"]["PyTorchImages"]
    entry = PYTORCH_IMAGES[config.framework.pytorch_version][config.framework.py_version]["cpu"]
    expected_regions = set(entry["training"]["regions"]) & set(entry["inference"]["regions"])
    assert set(mapping) == expected_regions and len(mapping) > 25
    version, py = config.framework.pytorch_version, config.framework.py_version
    for region, row in mapping.items():
        for scope in ("Training", "Inference"):
            account = row[f"{scope}Registry"]
            assert re.fullmatch(r"\d{12}", account)
            assert account == entry[scope.lower()]["regions"][region]["account"]
            suffix = r"amazonaws\.com\.cn" if region.startswith("cn-") else r"amazonaws\.com"
            assert re.fullmatch(
                rf"{account}\.dkr\.ecr\.{region}\.{suffix}/pytorch-{scope.lower()}:{re.escape(version)}-cpu-{py}",
                row[f"{scope}Image"]), row[f"{scope}Image"]


def test_images_are_looked_up_per_deploy_region(raw, template):
    find = {"Fn::FindInMap": ["PyTorchImages", {"Ref": "AWS::Region"}, "InferenceImage"]}
    template.has_resource_properties("AWS::SageMaker::Model", {"PrimaryContainer": Match.object_like({"Image": find})})
    _, job = _one(raw, "Custom::SageMakerTrainingJob")
    assert job["Properties"]["TrainingImage"] == {
        "Fn::FindInMap": ["PyTorchImages", {"Ref": "AWS::Region"}, "TrainingImage"]}


def test_image_table_is_generated_from_the_sdk_and_not_hand_typed():
    source = (ROOT / "stacks" / "image_uris.py").read_text()
    assert source.startswith('"""GENERATED by scripts/gen_image_uris.py')
    assert SOURCE["package"] == "sagemaker-core==2.27.0"
    assert SOURCE["member"] == "sagemaker/core/image_uri_config/pytorch.json"
    assert re.fullmatch(r"[0-9a-f]{64}", SOURCE["wheel_sha256"])
    for module in (ROOT / "stacks").glob("*.py"):
        if module.name != "image_uris.py":
            assert "763104351884" not in module.read_text(), module


def test_generator_builds_uris_the_way_the_sdk_does():
    from scripts.gen_image_uris import build_images, render

    config = {scope: {"processors": ["cpu", "gpu"], "version_aliases": {"2.6": "2.6.0"}, "versions": {"2.6.0": {
        "py_versions": ["py312"], "repository": f"pytorch-{scope}",
        "registries": {"eu-west-1": "111122223333", "cn-north-1": "444455556666"}}}} for scope in ("training", "inference")}
    hostnames = {"eu-west-1": "ecr.eu-west-1.amazonaws.com", "cn-north-1": "ecr.cn-north-1.amazonaws.com.cn"}
    images = build_images(config, ["2.6"], ["py312"], ["cpu"], hostname=hostnames.__getitem__)
    inference = images["2.6.0"]["py312"]["cpu"]["inference"]
    assert inference["tag"] == "2.6.0-cpu-py312"
    assert inference["regions"]["cn-north-1"]["uri"] == \
        "444455556666.dkr.ecr.cn-north-1.amazonaws.com.cn/pytorch-inference:2.6.0-cpu-py312"
    namespace: dict = {}
    exec(render(images, "sagemaker_core-2.27.0-py3-none-any.whl", "0" * 64), namespace)  # noqa: S102
    assert namespace["PYTORCH_IMAGES"] == images
    with pytest.raises(SystemExit, match="py311"):
        build_images(config, ["2.6.0"], ["py311"], ["cpu"], hostname=hostnames.__getitem__)


def test_unknown_framework_version_or_region_fails_synth_by_key(tmp_path):
    with pytest.raises(ConfigurationError, match="pytorch_inference_version"):
        framework_images.image_entry(SconesConfig.from_mapping({"pytorch_inference_version": "1.0.0"}), "inference")
    app = App(outdir=str(tmp_path))
    with pytest.raises(ConfigurationError, match="region 'xx-nowhere-1' has no SageMaker PyTorch"):
        ModelStack(app, "Elsewhere", config=SconesConfig(),
                   env=Environment(account="123456789012", region="xx-nowhere-1"))


# ----------------------------------------------------------- training on deploy (custom resource)
def test_training_job_custom_resource_properties(raw, built, config):
    _, job = _one(raw, "Custom::SageMakerTrainingJob")
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
    _, job = _one(raw, "Custom::SageMakerTrainingJob")
    depends = job["DependsOn"]
    deployments = _resources(raw, "Custom::CDKBucketDeployment")
    assert set(deployments) <= set(depends) and deployments
    policy = [k for k in _resources(raw, "AWS::IAM::Policy") if k.startswith("TrainingJobRoleDefaultPolicy")]
    assert policy and set(policy) <= set(depends)


def test_provider_framework_wires_on_event_and_is_complete(raw, template):
    _, job = _one(raw, "Custom::SageMakerTrainingJob")
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
    _, machine = _one(raw, "AWS::StepFunctions::StateMachine")
    definition = json.loads(flatten_join(machine["Properties"]["DefinitionString"]))
    retry = definition["States"]["framework-isComplete-task"]["Retry"][0]
    assert retry["IntervalSeconds"] == 30 and retry["MaxAttempts"] == 120 and retry["BackoffRate"] == 1
    assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ALL"


def test_provider_handlers_have_least_privilege(raw, config):
    job_arn = f":sagemaker:<Ref:AWS::Region>:<Ref:AWS::AccountId>:training-job/{config.project_name}-*"
    on_event = _statements_of(raw, "TrainingJobOnEventRole")
    sagemaker = [s for s in on_event if any(a.startswith("sagemaker:") for a in _actions(s))]
    assert sorted(_actions(sagemaker[0])) == ["sagemaker:AddTags", "sagemaker:CreateTrainingJob",
                                               "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"]
    assert all(r.endswith(job_arn) for r in _resources_of(sagemaker[0]))
    pass_role = [s for s in on_event if "iam:PassRole" in _actions(s)]
    assert len(pass_role) == 1
    assert pass_role[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert pass_role[0]["Resource"]["Fn::GetAtt"][0].startswith("TrainingJobRole")

    is_complete = _statements_of(raw, "TrainingJobIsCompleteRole")
    s3 = {a: _resources_of(s) for s in is_complete for a in _actions(s) if a.startswith("s3:")}
    assert set(s3) == {"s3:GetObject", "s3:PutObject"}
    assert all(r.endswith(f"/{config.bucket.training_output_prefix}*") for r in s3["s3:GetObject"])
    assert all(r.endswith(f"/{config.bucket.model_prefix}*") for r in s3["s3:PutObject"])
    describe = [s for s in is_complete if "sagemaker:DescribeTrainingJob" in _actions(s)]
    assert _actions(describe[0]) == ["sagemaker:DescribeTrainingJob"]


def test_training_role_reads_its_data_and_code_and_writes_output_only(raw, built, config):
    statements = {s.get("Sid"): s for s in _statements_of(raw, "TrainingJobRole") if s.get("Sid")}
    data_prefix = f"{config.bucket.training_data_prefix}{config.training.data_version}/"
    assert _resources_of(statements["ReadTrainingData"])[0].endswith(f"/{data_prefix}*")
    assert statements["ListTrainingData"]["Condition"] == {"StringLike": {"s3:prefix": [f"{data_prefix}*"]}}
    code = _resources_of(statements["ReadTrainingCode"])
    assert len(code) == 1 and code[0].endswith(f"/{built.model.training.code_asset.s3_object_key}") and "*" not in code[0]
    assert sorted(_actions(statements["WriteTrainingOutput"])) == ["s3:AbortMultipartUpload", "s3:PutObject"]
    assert _resources_of(statements["WriteTrainingOutput"])[0].endswith(f"/{config.bucket.training_output_prefix}*")
    pull = _resources_of(statements["PullFrameworkImage"])
    assert pull == ['arn:<Ref:AWS::Partition>:ecr:<Ref:AWS::Region>:'
                    '{"Fn::FindInMap": ["PyTorchImages", {"Ref": "AWS::Region"}, "TrainingRegistry"]}'
                    ':repository/pytorch-training']
    assert _actions(statements["EcrLogin"]) == ["ecr:GetAuthorizationToken"]
    assert statements["Metrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}}
    streams = _resources_of(statements["LogStreams"])[0]
    assert streams.endswith(f":log-group:/aws/sagemaker/TrainingJobs:log-stream:{config.project_name}-*")


def test_training_data_is_deployed_to_its_versioned_prefix_and_confined(raw, built, config):
    _, deployment = _one(raw, "Custom::CDKBucketDeployment")
    props = deployment["Properties"]
    assert props["DestinationBucketKeyPrefix"] == f"{config.bucket.training_data_prefix}{config.training.data_version}/"
    assert props["Prune"] is True and props["RetainOnDelete"] is True
    assert props["SourceObjectKeys"] == [built.model.training.data_asset.s3_object_key]
    deny = [s for s in _statements_of(raw, "TrainingDataDeploymentRole") if s["Effect"] == "Deny"]
    assert len(deny) == 1 and "Resource" not in deny[0]
    allowed = [flatten_join(r) for r in deny[0]["NotResource"]]
    assert allowed[0].endswith(f"/{config.bucket.training_data_prefix}{config.training.data_version}/*")
    assert allowed[1].endswith(f"/{built.model.training.data_asset.s3_object_key}")
    assert set(_actions(deny[0])) == {"s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*", "s3:Abort*"}


# ------------------------------------------------------------------------------ serving
def test_model_serves_the_gated_artifact(template, raw):
    template.has_resource_properties("AWS::SageMaker::Model", {
        "PrimaryContainer": Match.object_like({
            "ModelDataUrl": {"Fn::GetAtt": ["TrainingJob", "ModelDataUrl"]},
            "Environment": Match.object_like({"SAGEMAKER_PROGRAM": "inference.py",
                                              "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}),
        }),
    })
    _, model = _one(raw, "AWS::SageMaker::Model")
    assert any(d.startswith("ModelExecutionRoleDefaultPolicy") for d in model["DependsOn"])


def test_endpoint_config_captures_input_and_output(template, config):
    template.has_resource_properties("AWS::SageMaker::EndpointConfig", {
        "ProductionVariants": [Match.object_like({
            "VariantName": "AllTraffic", "InstanceType": config.endpoint.instance_type,
            "InitialInstanceCount": config.endpoint.initial_instance_count,
            "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]}})],
        "DataCaptureConfig": {
            "EnableCapture": True,
            "InitialSamplingPercentage": config.endpoint.capture_sampling_percentage,
            "DestinationS3Uri": {"Fn::Join": ["", [
                "s3://scones-data-", {"Ref": "AWS::AccountId"}, "-", {"Ref": "AWS::Region"},
                "/" + config.bucket.capture_prefix.rstrip("/")]]},
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        },
    })


def test_endpoint_blue_green_with_auto_rollback_on_alarms(raw, config):
    _, endpoint = _one(raw, "AWS::SageMaker::Endpoint")
    props = endpoint["Properties"]
    assert props["EndpointName"] == config.endpoint.name
    policy = props["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {"Type": "ALL_AT_ONCE",
                                                     "WaitIntervalInSeconds": config.rollout.baking_minutes * 60}
    assert policy["MaximumExecutionTimeoutInSeconds"] > policy["TrafficRoutingConfiguration"]["WaitIntervalInSeconds"]
    alarm_refs = [a["AlarmName"]["Ref"] for a in props["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]]
    alarms = _resources(raw, "AWS::CloudWatch::Alarm")
    assert sorted(alarm_refs) == sorted(alarms)
    by_metric = {a["Properties"]["MetricName"]: a["Properties"] for a in alarms.values()}
    assert set(by_metric) == {"Invocation5XXErrors", "ModelLatency"}
    for alarm in by_metric.values():
        assert alarm["Namespace"] == "AWS/SageMaker"
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {"EndpointName": config.endpoint.name,
                                                                        "VariantName": "AllTraffic"}
    errors = by_metric["Invocation5XXErrors"]
    assert errors["Statistic"] == "Sum" and errors["Threshold"] == config.rollout.rollback_5xx_errors
    latency = by_metric["ModelLatency"]
    assert latency["Unit"] == "Microseconds"
    assert latency["Threshold"] == config.rollout.rollback_model_latency_ms * 1000, "ModelLatency is in microseconds"
    assert latency["ExtendedStatistic"] == "p99"
    # The autoscaled instance count survives a model rollout; data capture changes still apply.
    assert props["RetainAllVariantProperties"] is True
    assert props["ExcludeRetainedVariantProperties"] == [{"VariantPropertyType": "DataCaptureConfig"}]


def test_autoscaling_tracks_invocations_per_instance_within_config_bounds(template, config):
    template.has_resource_properties("AWS::ApplicationAutoScaling::ScalableTarget", {
        "MinCapacity": config.endpoint.min_capacity, "MaxCapacity": config.endpoint.max_capacity,
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount", "ServiceNamespace": "sagemaker",
        "ResourceId": {"Fn::Join": ["", ["endpoint/", {"Fn::GetAtt": ["Endpoint", "EndpointName"]},
                                         "/variant/AllTraffic"]]},
        "RoleARN": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"},
                                      Match.string_like_regexp("AWSServiceRoleForApplicationAutoScaling_SageMaker")]]},
    })
    template.has_resource_properties("AWS::ApplicationAutoScaling::ScalingPolicy", {
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": Match.object_like({
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "TargetValue": config.endpoint.target_invocations_per_instance}),
    })


def test_endpoint_role_reads_models_writes_capture_pulls_its_image(raw, config):
    statements = {s.get("Sid"): s for s in _statements_of(raw, "ModelExecutionRole") if s.get("Sid")}
    assert _actions(statements["ReadModels"]) == ["s3:GetObject"]
    assert _resources_of(statements["ReadModels"])[0].endswith(f"/{config.bucket.model_prefix}*")
    assert _resources_of(statements["WriteDataCapture"])[0].endswith(f"/{config.bucket.capture_prefix}*")
    assert _resources_of(statements["PullFrameworkImage"])[0].endswith(":repository/pytorch-inference")
    assert statements["Metrics"]["Condition"]["StringEquals"]["cloudwatch:namespace"] == \
        f"/aws/sagemaker/Endpoints/{config.endpoint.name}"
    s3_actions = {a for s in statements.values() for a in _actions(s) if a.startswith("s3:")}
    assert s3_actions == {"s3:GetObject", "s3:PutObject"}


def test_no_star_resource_where_an_arn_exists(raw):
    for logical_id, statement in iam_statements(raw):
        if statement["Effect"] == "Allow" and statement.get("Resource") == "*":
            allowed = STAR_ONLY_ACTIONS
            if logical_id.startswith("TrainingJobProviderwaiterstatemachineRole"):
                # CDK's Provider waiter grants AWS's documented Step Functions logging policy as one statement.
                allowed = STAR_ONLY_ACTIONS | {"logs:CreateLogStream", "logs:PutLogEvents"}
            assert set(_actions(statement)) <= allowed, f"{logical_id} grants {statement['Action']} on '*'"
            if "cloudwatch:PutMetricData" in _actions(statement):
                assert "cloudwatch:namespace" in json.dumps(statement["Condition"])


def test_no_managed_policies_on_our_roles(raw):
    for logical_id, role in _resources(raw, "AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"], logical_id


# ------------------------------------------------------------------- workflow wiring
def test_workflow_invokes_exactly_this_endpoint_and_reports_the_model_version(built, raw, config):
    exports = {o["Export"]["Name"]: o["Value"] for o in raw["Outputs"].values() if "Export" in o}
    endpoint_export = [name for name, value in exports.items() if value == {"Ref": "Endpoint"}]
    assert len(endpoint_export) == 1, "the endpoint ARN (CfnEndpoint's Ref) is exported to the workflow"
    invoke = [s for _, s in iam_statements(built.workflow) if "sagemaker:InvokeEndpoint" in _actions(s)]
    assert len(invoke) == 1 and _actions(invoke[0]) == ["sagemaker:InvokeEndpoint"]
    assert invoke[0]["Resource"] == {"Fn::ImportValue": endpoint_export[0]}
    classify = [r for r in built.workflow["Resources"].values()
                if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == "lambdas.classify.handler.handler"]
    env = classify[0]["Properties"]["Environment"]["Variables"]
    assert env["ENDPOINT_NAME"] == config.endpoint.name
    assert env["MODEL_VERSION"] == built.model.training_job_name, "a synth-time value: no export to block retraining"


def test_outputs_expose_the_gate_results(raw):
    for name, attribute in (("ModelDataUrl", "ModelDataUrl"), ("ModelVersion", "ModelVersion"),
                            ("ValidationAccuracy", "ValidationAccuracy")):
        assert raw["Outputs"][name]["Value"] == {"Fn::GetAtt": ["TrainingJob", attribute]}


# ------------------------------------------------------------ deterministic packaging
def test_sourcedir_is_deterministic_and_has_the_entry_point_at_its_root(built):
    files = sourcedir.training_source_files()
    first, second = sourcedir.sourcedir_bytes(files), sourcedir.sourcedir_bytes(files)
    assert first == second
    assert first[4:8] == b"\0\0\0\0", "gzip header mtime is zero"
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as archive:
        members = archive.getmembers()
    names = [m.name for m in members]
    # SageMaker's entry point at the root, beside the training code set laid out as in the repo
    assert "train.py" in names and "training/__init__.py" in names
    assert {"scones_contracts/__init__.py", "scones_imaging/decode.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {m.mtime for m in members} == {0} and {m.uid for m in members} == {0}
    staged = list(Path(built.outdir).glob(f"asset.{built.model.training.code_asset.asset_hash}*.gz"))
    assert len(staged) == 1 and staged[0].read_bytes() == first, "the staged asset is exactly these bytes"
    assert gzip.decompress(first)  # a valid gzip stream


def test_code_hash_covers_every_packaged_file(tmp_path):
    files = sourcedir.training_source_files()
    base = files_sha256(files, sourcedir.SOURCEDIR_FORMAT)
    assert base == files_sha256(list(files), sourcedir.SOURCEDIR_FORMAT)
    changed = tmp_path / "train.py"
    changed.write_bytes(dict(files)["train.py"].read_bytes() + b"\n# changed\n")
    edited = [(name, changed if name == "train.py" else path) for name, path in files]
    assert files_sha256(edited, sourcedir.SOURCEDIR_FORMAT) != base


def test_job_name_changes_with_hyperparameters_data_version_code_and_data(config, built):
    code, data = built.model.code_hash, built.model.data_hash
    name = job_identity.training_job_name(config, code, data)
    assert name == built.model.training_job_name, "deterministic: same inputs, same name"
    others = {
        job_identity.training_job_name(config.with_overrides(training_hyperparameters={"seed": 8}), code, data),
        job_identity.training_job_name(config.with_overrides(training_data_version="cifar100-v2"), code, data),
        job_identity.training_job_name(config, "0" * 64, data),
        job_identity.training_job_name(config, code, "1" * 64),
        job_identity.training_job_name(config.with_overrides(training_instance_type="ml.c5.2xlarge"), code, data),
        # the artifact records the threshold it was evaluated at (metadata.json, baseline.json)
        job_identity.training_job_name(config.with_overrides(confidence_threshold=0.8), code, data),
    }
    assert name not in others and len(others) == 6
    assert job_identity.training_job_name(config.with_overrides(training_data_version="cifar100-v2"), code, data) \
        .startswith(f"{config.project_name}-cifar100-v2-")
    # Raising the bar or the runtime limit is not retraining.
    assert job_identity.training_job_name(config.with_overrides(min_validation_accuracy=0.95,
                                                 training_max_runtime_minutes=90), code, data) == name


def test_hyperparameters_become_train_py_flags():
    config = SconesConfig.from_mapping(dict(training_hyperparameters={"batch_size": 64, "epochs": 40, "lr": 0.1}))
    assert job_identity.sagemaker_hyperparameters(config) == {"batch-size": 64, "confidence-threshold": 0.93,
                                                              "epochs": 40, "lr": 0.1}
    with pytest.raises(ConfigurationError, match="training_hyperparameters.*twice"):
        job_identity.sagemaker_hyperparameters(SconesConfig.from_mapping(dict(training_hyperparameters={"batch_size": 1, "batch-size": 2})))
    with pytest.raises(ConfigurationError, match="training_hyperparameters.*reserved"):
        job_identity.sagemaker_hyperparameters(SconesConfig.from_mapping(dict(training_hyperparameters={"sagemaker_program": "x.py"})))


@pytest.mark.parametrize("key, value, allowed", [
    ("training_volume_size_gb", 0, "1..512"),
    ("deployment_baking_minutes", 61, "0..60"),
    ("rollback_5xx_errors_threshold", 0, "1..100000"),
    ("rollback_model_latency_ms", 60_001, "1..60000"),
])
def test_new_config_keys_are_validated_by_name(key, value, allowed):
    with pytest.raises(ConfigurationError) as err:
        SconesConfig.from_mapping({key: value})
    assert f"'{key}'" in str(err.value) and allowed in str(err.value)
