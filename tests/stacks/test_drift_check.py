"""drift_check: the scheduled drift function, its environment and its least-privilege role."""
from __future__ import annotations

import json

from aws_cdk.assertions import Match

from tests.stacks.monitoring_support import config, drift_fn, logical_id, raw, template  # noqa: F401
from tests.stacks.template_helpers import flatten_join, iam_statements


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
