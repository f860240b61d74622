"""alarms: the encrypted SSL-only alarm topic and every alarm (metric, threshold, comparison, periods, actions)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from aws_cdk.assertions import Match

from scones_contracts.endpoint import VARIANT_NAME
from tests.conftest import ROOT
from tests.stacks.template_helpers import state_machine
from tests.stacks.monitoring_support import (FIVE_MINUTES, alarms, config, dims, drift_fn, evaluate,  # noqa: F401
                                             expression, imported, logical_id, metric_stats, raw, service_of, template,
                                             topic_id, workflow, workflow_function)


def emitted_metrics(stdout: str) -> set[tuple[str, str, frozenset]]:
    """(namespace, metric, frozenset(dimension items)) of every EMF record a handler printed."""
    emitted = set()
    for line in stdout.splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
            for dimension_set in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    emitted.add((directive["Namespace"], metric["Name"],
                                 frozenset((d, record[d]) for d in dimension_set)))
    return emitted


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


EXPECTED_ALARMS = {
    "workflow-executions-failed", "workflow-executions-timed-out",
    "serialize-errors", "serialize-throttles", "classify-errors", "classify-throttles",
    "check-confidence-errors", "check-confidence-throttles",
    "open-review-errors", "open-review-throttles", "expire-review-errors", "expire-review-throttles",
    "reviews-expired", "processing-failures", "trigger-dlq-depth",
    "endpoint-5xx", "endpoint-model-latency",
    "low-confidence-share", "drift-confidence-psi", "drift-check-errors", "live-accuracy",
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
    machine = state_machine(workflow)[0]
    assert imported(workflow, dims(props)["StateMachineArn"]) == {"Ref": machine}


WORKFLOW_FUNCTIONS = ["serialize", "classify", "check_confidence", "open_review", "expire_review"]


@pytest.mark.parametrize("package", WORKFLOW_FUNCTIONS)
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


def test_trigger_dlq_depth_alarm(alarms, workflow, config):
    props = alarms[config.resource_name("trigger-dlq-depth")]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == \
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum")
    assert (props["ComparisonOperator"], props["Threshold"], props["EvaluationPeriods"]) == ("GreaterThanThreshold", 0, 1)
    assert props["TreatMissingData"] == "ignore"  # SQS stops reporting idle queues, even non-empty ones
    dlq = [k for k, r in workflow["Resources"].items() if r["Type"] == "AWS::SQS::Queue"]
    assert len(dlq) == 1 and dlq[0].startswith("TriggerDeadLetterQueue"), "the review queue is gone"
    assert imported(workflow, dims(props)["QueueName"]) == {"Fn::GetAtt": [dlq[0], "QueueName"]}


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
    emitted = emitted_metrics(proc.stdout)
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


# ---------------------------------------------------------------------------- human review
def run_handlers(workflow: dict, script: str) -> set[tuple[str, str, frozenset]]:
    """Run `script` with the review functions' deployed environment; (namespace, metric, dimensions) emitted."""
    env = {}
    for package in ("open_review", "expire_review"):
        variables = workflow["Resources"][workflow_function(workflow, package)]["Properties"]["Environment"]["Variables"]
        env.update({k: v for k, v in variables.items() if isinstance(v, str) and k != "POWERTOOLS_SERVICE_NAME"})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin", "POWERTOOLS_TRACE_DISABLED": "true",
                                            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x",
                                            "AWS_SECRET_ACCESS_KEY": "x", "REVIEW_TABLE_NAME": "reviews", **env,
                                            "SERVICES": json.dumps({p: service_of(workflow, p)
                                                                    for p in ("open_review", "expire_review")})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return emitted_metrics(proc.stdout)


OPEN_AND_EXPIRE = """
    import json, os
    from types import SimpleNamespace
    import boto3
    from moto import mock_aws
    services = json.loads(os.environ["SERVICES"])
    ctx = SimpleNamespace(function_name="f", function_version="$LATEST", memory_limit_in_mb=256,
                          invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
                          aws_request_id="req", get_remaining_time_in_millis=lambda: 1000)
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="reviews", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        os.environ["POWERTOOLS_SERVICE_NAME"] = services["open_review"]
        from lambdas.open_review.handler import handler as open_review
        os.environ["POWERTOOLS_SERVICE_NAME"] = services["expire_review"]
        from lambdas.expire_review.handler import handler as expire_review
        decision = {"label": "bicycle", "confidence": 0.6, "threshold": 0.93, "model_version": "v1",
                    "probabilities": {"bicycle": 0.6, "motorcycle": 0.4}}
        for n, (reason, extra) in enumerate([("low_confidence", {"decision": decision}),
                                             ("processing_failed", {"error": {"Error": "E", "Cause": "c"}})]):
            request = {"reason": reason, "bucket": "b", "key": f"incoming/{n}.png", "etag": "e",
                       "version_id": None, **extra}
            open_review({"request": request, "execution_id": f"x{n}", "task_token": "t"}, ctx)
            expire_review({"reason": reason, "execution_id": f"x{n}"}, ctx)
"""


@pytest.fixture(scope="module")
def emitted(workflow):
    return run_handlers(workflow, OPEN_AND_EXPIRE)


def test_reviews_expired_alarm_sums_every_waiting_reason_and_fires_at_once(alarms, emitted, config):
    props = alarms[config.resource_name("reviews-expired")]
    assert (props["ComparisonOperator"], props["Threshold"], props["EvaluationPeriods"]) == \
        ("GreaterThanOrEqualToThreshold", 1, 1)
    assert props["TreatMissingData"] == "notBreaching"
    stats = metric_stats(props)
    assert {s["Metric"]["MetricName"] for s in stats.values()} == {"ReviewsExpired"}
    assert {dims(s["Metric"])["ReviewReason"] for s in stats.values()} == {"low_confidence", "processing_failed"}
    assert expression(props) == " + ".join(f"FILL({i}, 0)" for i in sorted(stats))
    watched = {(s["Metric"]["Namespace"], s["Metric"]["MetricName"], frozenset(dims(s["Metric"]).items()))
               for s in stats.values()}
    assert watched <= emitted, f"alarm watches {watched}, handlers emit {sorted(emitted, key=str)}"


def test_processing_failures_alarm_watches_the_failure_reviews_open_review_writes(alarms, emitted, config):
    props = alarms[config.resource_name("processing-failures")]
    assert (props["MetricName"], props["Statistic"], props["Threshold"]) == ("ReviewItemsOpened", "Sum", 1)
    assert dims(props)["ReviewReason"] == "processing_failed"
    assert (props["Namespace"], props["MetricName"], frozenset(dims(props).items())) in emitted


def test_live_accuracy_alarm_is_confirmed_over_audited_with_a_minimum_sample(alarms, config):
    """Reviewer labels on audit samples: the share of automatic decisions they confirmed, over the
    configured window, alarmed below the configured bound, judged only from the minimum sample on."""
    r = config.review
    props = alarms[config.resource_name("live-accuracy")]
    assert (props["ComparisonOperator"], props["Threshold"], props["EvaluationPeriods"]) == \
        ("LessThanThreshold", r.live_accuracy_alarm_bound, 1)
    assert props["TreatMissingData"] == "notBreaching"
    stats = metric_stats(props)
    by_stat = {s["Stat"]: i for i, s in stats.items()}
    assert set(by_stat) == {"Sum", "SampleCount"}
    for stat in stats.values():
        assert stat["Metric"]["MetricName"] == "AuditModelCorrect"
        assert stat["Metric"]["Namespace"] == config.monitoring.metrics_namespace
        assert dims(stat["Metric"]) == {"service": config.resource_name("review-api"), "ReviewReason": "audit"}
        assert stat["Period"] == r.live_accuracy_window_hours * 3600
    confirmed, audited, expr = by_stat["Sum"], by_stat["SampleCount"], expression(props)
    n = r.live_accuracy_min_samples
    assert evaluate(expr, {confirmed: n * 0.5, audited: n}) == pytest.approx(0.5)  # enough audits: judged
    assert evaluate(expr, {confirmed: 0, audited: n - 1}) == 1.0  # too few audits: nothing to judge
