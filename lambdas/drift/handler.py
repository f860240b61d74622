"""Scheduled drift check over an endpoint's data capture (handler `lambdas.drift.handler.handler`).

EventBridge invokes it on a schedule. It lists the capture objects under
`s3://$CAPTURE_BUCKET/$CAPTURE_PREFIX` whose hour folder overlaps the last `$WINDOW_HOURS` hours
(ending at the event's `time`, else now), keeps the records whose `inferenceTime` lies in the
window, compares them with the training baseline and publishes the figures to CloudWatch. It
returns the report (also logged as one JSON line). Settings: settings.py.

Metrics (dimension `EndpointName`), published with `cloudwatch.put_metric_data`: CapturedRecords,
CaptureBadRecords (Count) always; CaptureLowConfidenceShare, CaptureMeanConfidence when there were
records; DriftConfidencePSI, DriftClassMixShift (TVD) and DriftDetected (0/1) when drift was computed.
PutMetricData rather than Powertools EMF: the function then needs nothing but boto3 (no layer to
deploy and pin), metrics land synchronously so a failure to publish fails the invocation (and the
Lambda Errors alarm), and one call per run is far inside any cost concern.

A baseline that cannot be read or does not follow the schema raises (a misconfiguration surfaces as
a failed invocation); unreadable capture objects and bad lines are only counted.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from scones_contracts import metrics as names
from scones_contracts.baseline import Baseline, BaselineError
from scones_contracts.capture import CaptureFormatError, parse_inference_time
from scones_contracts.s3_uri import parse_s3_uri

from ..shared import aws_clients
from .report import build_report
from .s3_capture import list_capture_objects, parse_s3_objects, read_s3_bytes
from .settings import DriftConfig

METRICS_PER_CALL = 20  # well inside PutMetricData's per-call limits


def _event_time(event: Any) -> datetime | None:
    """EventBridge scheduled events carry `"time": "2024-10-16T10:00:00Z"`."""
    if isinstance(event, dict) and isinstance(event.get("time"), str):
        try:
            return parse_inference_time(event["time"])
        except CaptureFormatError:
            return None
    return None


def load_baseline_s3(s3: Any, uri: str) -> Baseline:
    try:
        bucket, key = parse_s3_uri(uri)
    except ValueError as err:
        raise BaselineError(f"BASELINE_S3_URI: {err}") from None
    try:
        blob = read_s3_bytes(s3, bucket, key)
    except Exception as err:
        raise BaselineError(f"{uri}: cannot read baseline ({err})") from None
    return Baseline.from_bytes(blob, origin=uri)


def metric_data(report: Mapping[str, Any], endpoint_name: str, timestamp: datetime) -> list[dict[str, Any]]:
    """The CloudWatch datums for a report (see the module docstring for when each is present)."""
    dims = [{"Name": names.ENDPOINT_DIMENSION, "Value": endpoint_name}]
    values: list[tuple[str, float, str]] = [
        (names.CAPTURED_RECORDS, report["records"], "Count"),
        (names.CAPTURE_BAD_RECORDS, report["bad_records"], "Count"),
    ]
    if report["records"]:
        values.append((names.CAPTURE_LOW_CONFIDENCE_SHARE, report["low_confidence_share"], "None"))
        values.append((names.CAPTURE_MEAN_CONFIDENCE, report["mean_confidence"], "None"))
    drift = report["drift"]
    if drift.get("computed"):
        values.append((names.DRIFT_CONFIDENCE_PSI, drift["confidence_psi"], "None"))
        values.append((names.DRIFT_CLASS_MIX_SHIFT, drift["class_mix"]["tvd"], "None"))
        values.append((names.DRIFT_DETECTED, 1.0 if drift["drift_detected"] else 0.0, "None"))
    return [{"MetricName": name, "Dimensions": dims, "Timestamp": timestamp, "Value": float(value), "Unit": unit}
            for name, value, unit in values]


def run_drift_check(config: DriftConfig, now: datetime, s3: Any, cloudwatch: Any) -> dict[str, Any]:
    """The whole check with injected clients (the handler is this plus boto3 and the environment)."""
    start = now - timedelta(hours=config.window_hours)
    baseline = load_baseline_s3(s3, config.baseline_uri) if config.baseline_uri else None
    names_in_order = config.class_names

    objects = list_capture_objects(s3, config.capture_bucket, config.capture_prefix, start, now)
    parsed = parse_s3_objects(s3, config.capture_bucket, [o["Key"] for o in objects], n_classes=len(names_in_order))
    in_window = [r for r in parsed.records if start <= r.inference_time <= now]

    report = build_report(in_window, parsed.bad, baseline, threshold=config.threshold, class_names=names_in_order,
                          thresholds=config.thresholds)
    report["endpoint_name"] = config.endpoint_name
    report["window"] = {
        "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hours": config.window_hours,
    }
    report["capture"] = {
        "bucket": config.capture_bucket,
        "prefix": config.capture_prefix,
        "objects_read": len(objects),
        "records_outside_window": len(parsed.records) - len(in_window),
    }
    report["baseline_uri"] = config.baseline_uri
    datums = metric_data(report, config.endpoint_name, now)
    for i in range(0, len(datums), METRICS_PER_CALL):
        cloudwatch.put_metric_data(Namespace=config.namespace, MetricData=datums[i:i + METRICS_PER_CALL])
    report["metrics"] = {
        "namespace": config.namespace,
        "dimensions": {names.ENDPOINT_DIMENSION: config.endpoint_name},
        "published": {d["MetricName"]: d["Value"] for d in datums},
    }
    return report


def handler(event: Any, context: Any) -> dict[str, Any]:
    config = DriftConfig.from_env()
    now = _event_time(event) or datetime.now(timezone.utc)
    report = run_drift_check(config, now, aws_clients.client("s3"), aws_clients.client("cloudwatch"))
    print(json.dumps({"message": "drift check", **{k: report[k] for k in (
        "endpoint_name", "records", "bad_records", "class_counts", "mean_confidence", "low_confidence_share")},
        "drift_detected": report["drift"].get("drift_detected"), "reasons": report["drift"].get("reasons")}))
    return report
