"""Monitoring stack: snapshot, every alarm (metric, threshold, comparison, periods, actions), the
dashboard, the drift schedule and its least-privilege role, the encrypted SSL-only alarm topic.

The app is synthesized once per worker (session fixture `assembly`, cdk-nag on); the alarms' targets
are resolved across the Fn::ImportValue boundary to the workflow stack's resources, so an alarm on the
wrong function or queue fails here.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Match, Template

from stacks.config import SconesConfig
from scones_contracts.endpoint import VARIANT_NAME
from stacks.monitoring_stack import MonitoringStack, WorkflowTargets
from tests.conftest import ROOT, mask_asset_hashes
from tests.stacks.template_helpers import flatten_join, iam_statements, template_of

FIVE_MINUTES = 300


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def config(assembly) -> SconesConfig:
    return assembly.config


@pytest.fixture(scope="module")
def raw(assembly):
    return template_of(assembly, "Monitoring")[1]


@pytest.fixture(scope="module")
def template(raw):
    return Template.from_json(raw)


@pytest.fixture(scope="module")
def workflow(assembly):
    return template_of(assembly, "Workflow")[1]


@pytest.fixture(scope="module")
def alarms(raw):
    """alarm name -> properties."""
    found = {r["Properties"]["AlarmName"]: r["Properties"] for r in raw["Resources"].values()
             if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert found
    return found


@pytest.fixture(scope="module")
def topic_id(raw):
    topics = [k for k, r in raw["Resources"].items() if r["Type"] == "AWS::SNS::Topic"]
    assert len(topics) == 1
    return topics[0]


def logical_id(template: dict, resource_type: str, predicate=lambda props: True) -> str:
    ids = [k for k, r in template["Resources"].items()
           if r["Type"] == resource_type and predicate(r.get("Properties", {}))]
    assert len(ids) == 1, f"{resource_type}: {ids}"
    return ids[0]


def workflow_function(workflow: dict, package: str) -> str:
    return logical_id(workflow, "AWS::Lambda::Function", lambda p: p.get("Handler") == f"lambdas.{package}.handler.handler")


def imported(workflow: dict, value) -> object:
    """The workflow stack's exported value behind an Fn::ImportValue in the monitoring template."""
    assert isinstance(value, dict) and "Fn::ImportValue" in value, value
    exports = {o["Export"]["Name"]: o["Value"] for o in workflow.get("Outputs", {}).values() if "Export" in o}
    return exports[value["Fn::ImportValue"]]


def dims(props_or_metric: dict) -> dict:
    return {d["Name"]: d["Value"] for d in props_or_metric["Dimensions"]}


def metric_stats(alarm: dict) -> dict:
    """id -> MetricStat of a metric-math alarm."""
    return {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}


def expression(alarm: dict) -> str:
    exprs = [m for m in alarm["Metrics"] if "Expression" in m]
    assert len(exprs) == 1 and exprs[0].get("ReturnData", True) is True
    return exprs[0]["Expression"]


def evaluate(expr: str, values: dict[str, float]) -> float:
    """Evaluate the CloudWatch metric-math subset we use (IF, + - * /, comparisons) for one datapoint."""
    assert re.fullmatch(r"[A-Za-z0-9_ .()+\-*/<>=,]+", expr), expr
    python = expr.replace("IF(", "_if(")
    return float(eval(python, {"__builtins__": {}, "_if": lambda c, a, b: a if c else b}, dict(values)))  # noqa: S307


def render(value, workflow: dict) -> str:
    """A joined string with tokens as placeholders; imports resolved to the workflow's <Ref:...>/<GetAtt:...>."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(render(p, workflow) for p in parts)
    if "Fn::ImportValue" in value:
        return render(imported(workflow, value), workflow)
    if "Ref" in value:
        return f"<Ref:{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return f"<GetAtt:{'.'.join(value['Fn::GetAtt'])}>"
    raise AssertionError(f"unexpected token {value}")


def service_of(workflow: dict, package: str) -> str:
    fn = workflow["Resources"][workflow_function(workflow, package)]
    return fn["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]


# ------------------------------------------------------------------------------------ snapshot
def test_snapshot(raw, snapshot):
    assert mask_asset_hashes(raw) == snapshot


def test_cfn_lint_reports_no_errors(raw):
    from cfnlint.api import lint_all

    errors = [str(m) for m in lint_all(json.dumps(raw)) if m.rule.id.startswith("E")]
    assert errors == []


# ---------------------------------------------------------------------------------- alarm topic
def test_alarm_topic_is_kms_encrypted_with_a_rotating_key_cloudwatch_may_use(template, raw, topic_id):
    key_id = logical_id(raw, "AWS::KMS::Key")
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}})
    template.has_resource_properties("AWS::KMS::Key", {
        "EnableKeyRotation": True,
        "KeyPolicy": {"Statement": Match.array_with([Match.object_like({
            "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"]})])},
    })


def test_alarm_topic_denies_non_ssl_and_admits_only_this_accounts_alarms(template, topic_id):
    template.has_resource_properties("AWS::SNS::TopicPolicy", {
        "Topics": [{"Ref": topic_id}],
        "PolicyDocument": {"Statement": Match.array_with([
            Match.object_like({"Effect": "Deny", "Principal": "*", "Action": "sns:Publish",
                               "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
            Match.object_like({"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
                               "Action": "sns:Publish", "Resource": {"Ref": topic_id},
                               "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                                             "ArnLike": {"aws:SourceArn": Match.any_value()}}}),
        ])},
    })


def test_no_email_subscription_without_alarm_email(template, config):
    assert config.monitoring.alarm_email == ""
    template.resource_count_is("AWS::SNS::Subscription", 0)


def standalone_monitoring(context: dict) -> Template:
    """The monitoring stack alone, against imported workflow resources (no second app synthesis)."""
    app = App(context={"scones": context})
    config = SconesConfig.from_context(app)
    scope = Stack(app, "Imports")
    targets = WorkflowTargets(
        state_machine=sfn.StateMachine.from_state_machine_name(scope, "Sm", "sm"),
        serialize_fn=lambda_.Function.from_function_name(scope, "S", "s"),
        classify_fn=lambda_.Function.from_function_name(scope, "C", "c"),
        check_confidence_fn=lambda_.Function.from_function_name(scope, "F", "f"),
        review_queue=sqs.Queue.from_queue_arn(scope, "Q", "arn:aws:sqs:us-east-1:111111111111:review"),
        review_dlq=sqs.Queue.from_queue_arn(scope, "D", "arn:aws:sqs:us-east-1:111111111111:review-dlq"),
        trigger_dlq=sqs.Queue.from_queue_arn(scope, "T", "arn:aws:sqs:us-east-1:111111111111:trigger-dlq"),
    )
    return Template.from_stack(MonitoringStack(app, "Monitoring", config=config, workflow=targets))


def test_alarm_email_subscribes_to_the_topic():
    template = standalone_monitoring({"alarm_email": "ops@example.com", "drift_schedule_hours": 6,
                                      "model_latency_alarm_ms": 250})
    template.has_resource_properties("AWS::SNS::Subscription", {
        "Protocol": "email", "Endpoint": "ops@example.com", "TopicArn": {"Ref": Match.string_like_regexp("AlarmTopic")}})
    # config flows through: the schedule, the drift alarm's period and the latency threshold in µs
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(6 hours)"})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "ModelLatency", "Threshold": 250_000})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "AlarmName": "scones-drift-confidence-psi",
        "Metrics": Match.array_with([Match.object_like({"MetricStat": Match.object_like({"Period": 6 * 3600})})])})


# --------------------------------------------------------------------------------------- alarms
EXPECTED_ALARMS = {
    "workflow-executions-failed", "workflow-executions-timed-out",
    "serialize-errors", "serialize-throttles", "classify-errors", "classify-throttles",
    "check-confidence-errors", "check-confidence-throttles",
    "review-queue-age", "review-dlq-depth", "trigger-dlq-depth",
    "endpoint-5xx", "endpoint-model-latency",
    "low-confidence-share", "drift-confidence-psi", "drift-check-errors",
}


def test_the_expected_alarms_exist(alarms, config):
    assert set(alarms) == {config.resource_name(n) for n in EXPECTED_ALARMS}


def test_every_alarm_notifies_the_topic_on_alarm_and_ok(alarms, topic_id):
    for name, props in alarms.items():
        assert props["AlarmActions"] == [{"Ref": topic_id}], name
        assert props["OKActions"] == [{"Ref": topic_id}], name
        assert props["TreatMissingData"] in ("notBreaching", "ignore"), name
        assert props["AlarmDescription"], name
        assert 1 <= props["DatapointsToAlarm"] <= props["EvaluationPeriods"], name


@pytest.mark.parametrize("suffix, metric", [
    ("workflow-executions-failed", "ExecutionsFailed"),
    ("workflow-executions-timed-out", "ExecutionsTimedOut"),
])
def test_state_machine_alarms(alarms, workflow, config, suffix, metric):
    props = alarms[config.resource_name(suffix)]
    assert (props["Namespace"], props["MetricName"], props["Statistic"], props["Period"]) == \
        ("AWS/States", metric, "Sum", FIVE_MINUTES)
    assert (props["ComparisonOperator"], props["Threshold"], props["EvaluationPeriods"], props["DatapointsToAlarm"]) == \
        ("GreaterThanOrEqualToThreshold", 1, 1, 1)
    assert props["TreatMissingData"] == "notBreaching"
    machine = logical_id(workflow, "AWS::StepFunctions::StateMachine")
    assert imported(workflow, dims(props)["StateMachineArn"]) == {"Ref": machine}


@pytest.mark.parametrize("package", ["serialize", "classify", "check_confidence"])
@pytest.mark.parametrize("metric, kind", [("Errors", "errors"), ("Throttles", "throttles")])
def test_lambda_error_and_throttle_alarms(alarms, workflow, config, package, metric, kind):
    props = alarms[config.resource_name(f"{package.replace('_', '-')}-{kind}")]
    assert (props["Namespace"], props["MetricName"], props["Statistic"], props["Period"]) == \
        ("AWS/Lambda", metric, "Sum", FIVE_MINUTES)
    # persisting: in 2 of 3 five-minute periods (the state machine retries single failures)
    assert (props["ComparisonOperator"], props["Threshold"], props["EvaluationPeriods"], props["DatapointsToAlarm"]) == \
        ("GreaterThanOrEqualToThreshold", 1, 3, 2)
    assert props["TreatMissingData"] == "notBreaching"
    assert imported(workflow, dims(props)["FunctionName"]) == {"Ref": workflow_function(workflow, package)}


def test_review_queue_age_alarm(alarms, workflow, config):
    props = alarms[config.resource_name("review-queue-age")]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == \
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum")
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["Threshold"] == config.review.max_age_minutes * 60  # the metric is in seconds
    assert props["TreatMissingData"] == "ignore"
    queue = logical_id(workflow, "AWS::SQS::Queue", lambda p: "RedrivePolicy" in p)
    assert imported(workflow, dims(props)["QueueName"]) == {"Fn::GetAtt": [queue, "QueueName"]}


@pytest.mark.parametrize("suffix, dlq_prefix", [("review-dlq-depth", "ReviewDeadLetterQueue"),
                                                ("trigger-dlq-depth", "TriggerDeadLetterQueue")])
def test_dead_letter_queue_depth_alarms(alarms, workflow, config, suffix, dlq_prefix):
    props = alarms[config.resource_name(suffix)]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == \
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum")
    assert (props["ComparisonOperator"], props["Threshold"], props["EvaluationPeriods"]) == ("GreaterThanThreshold", 0, 1)
    assert props["TreatMissingData"] == "ignore"  # SQS stops reporting idle queues, even non-empty ones
    dlq = [k for k, r in workflow["Resources"].items() if r["Type"] == "AWS::SQS::Queue" and k.startswith(dlq_prefix)]
    assert len(dlq) == 1
    assert imported(workflow, dims(props)["QueueName"]) == {"Fn::GetAtt": [dlq[0], "QueueName"]}


def test_review_dlq_is_the_review_queues_dead_letter_queue(workflow):
    queue = workflow["Resources"][logical_id(workflow, "AWS::SQS::Queue", lambda p: "RedrivePolicy" in p)]
    target = queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert target.startswith("ReviewDeadLetterQueue")


def test_endpoint_5xx_alarm(template, config):
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "AlarmName": config.resource_name("endpoint-5xx"),
        "Namespace": "AWS/SageMaker", "MetricName": "Invocation5XXErrors", "Statistic": "Sum", "Period": FIVE_MINUTES,
        "Dimensions": Match.array_equals([{"Name": "EndpointName", "Value": config.endpoint.name},
                                          {"Name": "VariantName", "Value": VARIANT_NAME}]),
        "ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 1,
        "EvaluationPeriods": 3, "DatapointsToAlarm": 2, "TreatMissingData": "notBreaching",
    })


def test_model_latency_alarm_threshold_is_in_microseconds(alarms, config):
    props = alarms[config.resource_name("endpoint-model-latency")]
    assert (props["Namespace"], props["MetricName"], props["ExtendedStatistic"], props["Period"]) == \
        ("AWS/SageMaker", "ModelLatency", "p90", FIVE_MINUTES)
    assert dims(props) == {"EndpointName": config.endpoint.name, "VariantName": VARIANT_NAME}
    assert config.monitoring.model_latency_alarm_ms == 500
    assert props["Threshold"] == 500 * 1000  # 500 ms = 500000 µs: ModelLatency is reported in microseconds
    assert (props["ComparisonOperator"], props["EvaluationPeriods"], props["DatapointsToAlarm"]) == \
        ("GreaterThanThreshold", 3, 3)


def test_low_confidence_share_alarm_is_low_over_low_plus_confident(alarms, workflow, config):
    props = alarms[config.resource_name("low-confidence-share")]
    assert props["Threshold"] == config.monitoring.low_confidence_alarm_share
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    stats = metric_stats(props)
    by_name = {s["Metric"]["MetricName"]: (i, s) for i, s in stats.items()}
    assert set(by_name) == {"LowConfidencePredictions", "ConfidentPredictions"}
    confidence_service = service_of(workflow, "check_confidence")
    for _id, stat in by_name.values():
        assert stat["Metric"]["Namespace"] == config.monitoring.metrics_namespace
        assert dims(stat["Metric"]) == {"service": confidence_service}
        assert (stat["Stat"], stat["Period"]) == ("Sum", 3600)
    low, confident = by_name["LowConfidencePredictions"][0], by_name["ConfidentPredictions"][0]
    expr, minimum = expression(props), config.monitoring.low_confidence_min_predictions
    # the share itself, once there are enough predictions in the hour
    assert evaluate(expr, {low: 9, confident: 21}) == pytest.approx(9 / 30)
    busy_bad_hour = evaluate(expr, {low: 40, confident: 60})
    assert busy_bad_hour == pytest.approx(0.4) and busy_bad_hour > props["Threshold"]
    assert evaluate(expr, {low: minimum, confident: 0}) == 1.0
    # too few predictions to judge a rate: never breaching
    assert evaluate(expr, {low: minimum - 1, confident: 0}) == 0.0


def test_low_confidence_alarm_matches_what_the_check_confidence_handler_emits(alarms, workflow, config, tmp_path):
    """Run the real check_confidence handler with its deployed environment and read its EMF output."""
    env = workflow["Resources"][workflow_function(workflow, "check_confidence")]["Properties"]["Environment"]["Variables"]
    script = textwrap.dedent("""
        import json, os, sys
        from types import SimpleNamespace
        from lambdas.check_confidence.handler import handler
        ctx = SimpleNamespace(function_name="check-confidence", function_version="$LATEST", memory_limit_in_mb=256,
                              invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:check-confidence",
                              aws_request_id="req", get_remaining_time_in_millis=lambda: 1000)
        for top in (0.99, 0.6):
            handler({"classification": {"bucket": "b", "key": "incoming/x.png", "etag": "e", "version_id": None,
                     "probabilities": {"bicycle": top, "motorcycle": 1 - top}, "model_version": "v1",
                     "endpoint_name": "e", "variant": "AllTraffic", "latency_ms": 1.0}, "execution_id": "x"}, ctx)
    """)
    run_env = {"PATH": "/usr/bin:/bin", "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1",
               **{k: v for k, v in env.items() if isinstance(v, str)}}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=run_env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    emitted = set()  # (namespace, metric, frozenset(dimension items))
    for line in proc.stdout.splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
            for dimension_set in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    emitted.add((directive["Namespace"], metric["Name"],
                                 frozenset((d, record[d]) for d in dimension_set)))
    props = alarms[config.resource_name("low-confidence-share")]
    watched = {(s["Metric"]["Namespace"], s["Metric"]["MetricName"], frozenset(dims(s["Metric"]).items()))
               for s in metric_stats(props).values()}
    assert len(watched) == 2
    assert watched <= emitted, f"alarm watches {watched}, handler emits {sorted(emitted, key=str)}"


def test_drift_psi_alarm_is_gated_by_the_record_count(alarms, config):
    props = alarms[config.resource_name("drift-confidence-psi")]
    assert (props["Threshold"], props["ComparisonOperator"]) == (config.drift.psi_alarm_threshold, "GreaterThanThreshold")
    assert props["TreatMissingData"] == "notBreaching"
    stats = metric_stats(props)
    by_name = {s["Metric"]["MetricName"]: i for i, s in stats.items()}
    assert set(by_name) == {"DriftConfidencePSI", "CapturedRecords"}
    for stat in stats.values():
        assert stat["Metric"]["Namespace"] == config.monitoring.metrics_namespace
        assert dims(stat["Metric"]) == {"EndpointName": config.endpoint.name}
        assert (stat["Stat"], stat["Period"]) == ("Maximum", config.drift.schedule_hours * 3600)
    psi, records, expr = by_name["DriftConfidencePSI"], by_name["CapturedRecords"], expression(props)
    above = config.drift.psi_alarm_threshold * 2
    assert evaluate(expr, {psi: above, records: config.drift.min_records}) == above
    assert evaluate(expr, {psi: above, records: config.drift.min_records - 1}) == 0.0


def test_drift_check_errors_alarm(alarms, raw, config):
    props = alarms[config.resource_name("drift-check-errors")]
    drift_fn = logical_id(raw, "AWS::Lambda::Function", lambda p: p.get("Handler") == "lambdas.drift.handler.handler")
    assert dims(props) == {"FunctionName": {"Ref": drift_fn}}
    assert (props["MetricName"], props["Statistic"], props["Period"]) == ("Errors", "Sum", config.drift.schedule_hours * 3600)
    assert (props["Threshold"], props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (1, 2, 2)


# ------------------------------------------------------------------------------------ dashboard
@pytest.fixture(scope="module")
def dashboard(assembly):
    found = [(stack, r) for stack, t in assembly.templates.items() for r in t["Resources"].values()
             if r["Type"] == "AWS::CloudWatch::Dashboard"]
    assert len(found) == 1, "one dashboard for the whole app"
    stack, resource = found[0]
    assert stack.endswith("Monitoring")
    return resource["Properties"]


@pytest.fixture(scope="module")
def dashboard_body(dashboard, workflow):
    return json.loads(render(dashboard["DashboardBody"], workflow))


@pytest.fixture(scope="module")
def dashboard_metrics(dashboard_body):
    """(namespace, metric name, {dimension: value}) of every metric on the dashboard."""
    body = dashboard_body
    found = []
    for widget in body["widgets"]:
        for entry in widget.get("properties", {}).get("metrics", []):
            names = [x for x in entry if isinstance(x, str)]
            if len(names) >= 2 and names[0] != "..." and "expression" not in json.dumps(entry[:1]):
                found.append((names[0], names[1], dict(zip(names[2::2], names[3::2]))))
    return body, found


def test_dashboard_name(dashboard, config):
    assert dashboard["DashboardName"] == config.resource_name("operations")


def test_dashboard_covers_the_workflow(dashboard_metrics, workflow, drift_fn):
    _body, metrics = dashboard_metrics
    names = {(ns, name) for ns, name, _ in metrics}
    assert {("AWS/States", "ExecutionsFailed"), ("AWS/States", "ExecutionsTimedOut"), ("AWS/Lambda", "Errors"),
            ("AWS/Lambda", "Throttles"), ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible")} <= names
    functions = {d.get("FunctionName") for ns, name, d in metrics if (ns, name) == ("AWS/Lambda", "Errors")}
    assert functions == {f"<Ref:{workflow_function(workflow, p)}>" for p in ("serialize", "classify", "check_confidence")} | \
        {f"<Ref:{drift_fn}>"}
    machines = {d.get("StateMachineArn") for ns, name, d in metrics if ns == "AWS/States"}
    assert machines == {f"<Ref:{logical_id(workflow, 'AWS::StepFunctions::StateMachine')}>"}
    queues = {d.get("QueueName") for ns, name, d in metrics if ns == "AWS/SQS"}
    assert queues == {f"<GetAtt:{k}.QueueName>" for k, r in workflow["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}


def test_dashboard_has_the_endpoint_widgets(dashboard_metrics, config):
    body, metrics = dashboard_metrics
    endpoint = {name for ns, name, d in metrics
                if ns in ("AWS/SageMaker", "/aws/sagemaker/Endpoints")
                and d == {"EndpointName": config.endpoint.name, "VariantName": VARIANT_NAME}}
    assert {"Invocations", "InvocationsPerInstance", "ModelLatency", "Invocation4XXErrors", "Invocation5XXErrors",
            "CPUUtilization", "MemoryUtilization"} <= endpoint
    titles = {w["properties"].get("title") for w in body["widgets"]}
    assert {"Invocations", "Invocation errors", "Instances and utilisation"} <= titles
    assert any(t and t.startswith("ModelLatency") for t in titles)


def test_dashboard_has_the_model_quality_widgets(dashboard_metrics, workflow, config):
    _body, metrics = dashboard_metrics
    own = {(name, tuple(sorted(d.items()))) for ns, name, d in metrics if ns == config.monitoring.metrics_namespace}
    confidence_dims = (("service", service_of(workflow, "check_confidence")),)
    serialize_dims = (("service", service_of(workflow, "serialize")),)
    drift_dims = (("EndpointName", config.endpoint.name),)
    expected = {("PredictionsBicycle", confidence_dims), ("PredictionsMotorcycle", confidence_dims),
                ("TopConfidence", confidence_dims), ("LowConfidencePredictions", confidence_dims),
                ("ConfidentPredictions", confidence_dims), ("ImagesQuarantined", serialize_dims),
                ("DriftConfidencePSI", drift_dims), ("DriftClassMixShift", drift_dims),
                ("CapturedRecords", drift_dims), ("CaptureBadRecords", drift_dims)}
    assert expected <= own, expected - own


def test_dashboard_shows_every_alarm(dashboard_body, raw):
    status = [w for w in dashboard_body["widgets"] if w["type"] == "alarm"]
    assert len(status) == 1
    alarm_ids = {k for k, r in raw["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    shown = {re.search(r"<GetAtt:(\w+)\.Arn>", a).group(1) for a in status[0]["properties"]["alarms"]}
    assert shown == alarm_ids


# ------------------------------------------------------------------------------- drift schedule
@pytest.fixture(scope="module")
def drift_fn(raw):
    return logical_id(raw, "AWS::Lambda::Function", lambda p: p.get("Handler") == "lambdas.drift.handler.handler")


def test_schedule_rule_targets_the_drift_function(template, raw, drift_fn, config):
    hours = config.drift.schedule_hours
    rule = logical_id(raw, "AWS::Events::Rule")
    template.has_resource_properties("AWS::Events::Rule", {
        "ScheduleExpression": f"rate({hours} hour{'s' if hours > 1 else ''})",
        "State": "ENABLED",
        "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [drift_fn, "Arn"]}})],
    })
    template.has_resource_properties("AWS::Lambda::Permission", {
        "Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com",
        "FunctionName": {"Fn::GetAtt": [drift_fn, "Arn"]}, "SourceArn": {"Fn::GetAtt": [rule, "Arn"]},
    })


def test_drift_function_runtime_and_environment(raw, drift_fn, config):
    props = raw["Resources"][drift_fn]["Properties"]
    assert (props["Runtime"], props["Architectures"]) == ("python3.12", ["arm64"])
    env = {k: flatten_join(v) for k, v in props["Environment"]["Variables"].items()}
    bucket = "scones-data-<Ref:AWS::AccountId>-<Ref:AWS::Region>"
    assert env == {
        "CAPTURE_BUCKET": bucket,
        "CAPTURE_PREFIX": f"{config.bucket.capture_prefix}{config.endpoint.name}/",
        "BASELINE_S3_URI": f"s3://{bucket}/{config.bucket.baseline_key}",
        "WINDOW_HOURS": str(config.drift.window_hours),
        "THRESHOLD": str(config.decision.threshold),
        "POWERTOOLS_METRICS_NAMESPACE": config.monitoring.metrics_namespace,
        "ENDPOINT_NAME": config.endpoint.name,
        "PSI_THRESHOLD": str(config.drift.psi_alarm_threshold),
        "MIN_RECORDS": str(config.drift.min_records),
        "CLASS_NAMES": "bicycle,motorcycle",
    }
    assert "LoggingConfig" in props and "LogGroup" in props["LoggingConfig"]


def test_drift_role_is_least_privilege(raw, drift_fn, config):
    role = raw["Resources"][drift_fn]["Properties"]["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in raw["Resources"][role]["Properties"]
    statements = [s for lid, s in iam_statements(raw)
                  if lid != role and role in json.dumps(raw["Resources"][lid]["Properties"].get("Roles", []))]
    bucket_arn = "arn:<Ref:AWS::Partition>:s3:::scones-data-<Ref:AWS::AccountId>-<Ref:AWS::Region>"
    capture = f"{config.bucket.capture_prefix}{config.endpoint.name}/"
    granted = sorted((json.dumps(s["Action"]), flatten_join(s["Resource"]) if not isinstance(s["Resource"], dict)
                      or "Fn::GetAtt" not in s["Resource"] else "<log group>", json.dumps(s.get("Condition")))
                     for s in statements)
    assert all(s["Effect"] == "Allow" for s in statements)
    assert granted == sorted([
        ('["logs:CreateLogStream", "logs:PutLogEvents"]', "<log group>", "null"),
        ('"s3:GetObject"', f"{bucket_arn}/{capture}*", "null"),
        ('"s3:ListBucket"', bucket_arn, json.dumps({"StringLike": {"s3:prefix": [f"{capture}*"]}})),
        ('"s3:GetObject"', f"{bucket_arn}/{config.bucket.baseline_key}", "null"),
        ('"cloudwatch:PutMetricData"', "*", json.dumps({"StringEquals": {"cloudwatch:namespace": config.monitoring.metrics_namespace}})),
    ])
