"""Scheduled drift check over an endpoint's data capture (handler ``drift.handler.handler``).

EventBridge invokes it on a schedule. It lists the capture objects under
``s3://$CAPTURE_BUCKET/$CAPTURE_PREFIX`` whose ``YYYY/MM/DD/HH`` folder overlaps the last
``$WINDOW_HOURS`` hours (ending at the event's ``time``, else now), keeps the records whose
``inferenceTime`` lies in the window, compares them with the training baseline and publishes the
figures to CloudWatch. It returns the report dict (also logged as one JSON line).

Environment
    CAPTURE_BUCKET        bucket holding the capture (required)
    CAPTURE_PREFIX        e.g. ``datacapture/<endpoint>/`` (default: whole bucket)
    BASELINE_S3_URI       ``s3://bucket/key`` of ``baseline.json`` or ``model.tar.gz``; or
    BASELINE_BUCKET + BASELINE_KEY
                          without a baseline the capture metrics are still published
    WINDOW_HOURS          look-back window in hours (default 24)
    THRESHOLD             low-confidence threshold (default: the baseline's, else 0.93)
    METRICS_NAMESPACE     CloudWatch namespace (default ``SconesUnlimited``, as stacks/config.py)
    ENDPOINT_NAME         value of the ``EndpointName`` dimension (default: last folder of the prefix)
    PSI_THRESHOLD, CLASS_MIX_THRESHOLD, LOW_CONFIDENCE_DELTA_THRESHOLD, MIN_RECORDS
                          drift thresholds (defaults 0.2, 0.15, 0.15, 30)
    CLASS_NAMES           comma-separated class names (default: the baseline's, else bicycle,motorcycle)

Metrics (namespace ``$METRICS_NAMESPACE``, dimension ``EndpointName``), published with
``cloudwatch.put_metric_data``: CapturedRecords, CaptureBadRecords (Count) always;
CaptureLowConfidenceShare, CaptureMeanConfidence when there were records; DriftConfidencePSI,
DriftClassMixShift (TVD) and DriftDetected (0/1) when drift was computed.
``put_metric_data`` rather than Powertools EMF: the function then needs nothing but boto3 (no layer to
deploy and pin), metrics land in the account synchronously so a failure to publish fails the
invocation (and the Lambda Errors alarm), and one call per run is far inside any cost concern.

A baseline that cannot be read or does not follow the schema raises (a misconfiguration should
surface as a failed invocation); unreadable capture objects and bad lines are only counted.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

import boto3

from .capture import DEFAULT_CLASS_NAMES, parse_inference_time
from .drift import Baseline, BaselineError, DriftThresholds, baseline_from_bytes, build_report
from .s3source import list_capture_objects, parse_s3_objects, parse_s3_uri, read_s3_bytes

DEFAULT_NAMESPACE = "SconesUnlimited"
DEFAULT_WINDOW_HOURS = 24.0


@dataclass(frozen=True)
class DriftConfig:
    capture_bucket: str
    capture_prefix: str = ""
    baseline_uri: str | None = None
    window_hours: float = DEFAULT_WINDOW_HOURS
    threshold: float | None = None
    namespace: str = DEFAULT_NAMESPACE
    endpoint_name: str = "unknown"
    class_names: tuple[str, ...] | None = None
    thresholds: DriftThresholds = field(default_factory=DriftThresholds)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "DriftConfig":
        def number(name: str, default: float | None, kind=float):
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"environment variable {name}={raw!r} is not a valid {kind.__name__}") from None
            if value <= 0:
                raise ValueError(f"environment variable {name}={raw!r} must be positive")
            return value

        bucket = env.get("CAPTURE_BUCKET", "").strip()
        if not bucket:
            raise ValueError("environment variable CAPTURE_BUCKET is required")
        prefix = env.get("CAPTURE_PREFIX", "").strip().lstrip("/")
        baseline_uri = env.get("BASELINE_S3_URI", "").strip() or None
        if baseline_uri is None and env.get("BASELINE_BUCKET", "").strip() and env.get("BASELINE_KEY", "").strip():
            baseline_uri = f"s3://{env['BASELINE_BUCKET'].strip()}/{env['BASELINE_KEY'].strip().lstrip('/')}"
        threshold = number("THRESHOLD", None)
        if threshold is not None and not threshold < 1:
            raise ValueError(f"environment variable THRESHOLD={threshold} must be in (0, 1)")
        endpoint = env.get("ENDPOINT_NAME", "").strip() or _endpoint_from_prefix(prefix)
        names = tuple(n.strip() for n in env.get("CLASS_NAMES", "").split(",") if n.strip()) or None
        defaults = DriftThresholds()
        thresholds = DriftThresholds(
            psi=number("PSI_THRESHOLD", defaults.psi),
            class_mix_tvd=number("CLASS_MIX_THRESHOLD", defaults.class_mix_tvd),
            low_confidence_delta=number("LOW_CONFIDENCE_DELTA_THRESHOLD", defaults.low_confidence_delta),
            min_records=number("MIN_RECORDS", defaults.min_records, int),
        )
        return cls(
            capture_bucket=bucket,
            capture_prefix=prefix,
            baseline_uri=baseline_uri,
            window_hours=number("WINDOW_HOURS", DEFAULT_WINDOW_HOURS),
            threshold=threshold,
            namespace=env.get("METRICS_NAMESPACE", "").strip() or DEFAULT_NAMESPACE,
            endpoint_name=endpoint,
            class_names=names,
            thresholds=thresholds,
        )


def _endpoint_from_prefix(prefix: str) -> str:
    parts = [p for p in prefix.split("/") if p]
    return parts[-1] if parts else "unknown"


def _event_time(event: Any) -> datetime | None:
    """EventBridge scheduled events carry ``"time": "2024-10-16T10:00:00Z"``."""
    if isinstance(event, dict) and isinstance(event.get("time"), str):
        try:
            return parse_inference_time(event["time"])
        except ValueError:
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
    return baseline_from_bytes(blob, origin=uri)


def metric_data(report: Mapping[str, Any], endpoint_name: str, timestamp: datetime) -> list[dict[str, Any]]:
    """The CloudWatch datums for a report (see module docstring for when each is present)."""
    dims = [{"Name": "EndpointName", "Value": endpoint_name}]
    values: list[tuple[str, float, str]] = [
        ("CapturedRecords", report["records"], "Count"),
        ("CaptureBadRecords", report["bad_records"], "Count"),
    ]
    if report["records"]:
        values.append(("CaptureLowConfidenceShare", report["low_confidence_share"], "None"))
        values.append(("CaptureMeanConfidence", report["mean_confidence"], "None"))
    drift = report["drift"]
    if drift.get("computed"):
        values.append(("DriftConfidencePSI", drift["confidence_psi"], "None"))
        values.append(("DriftClassMixShift", drift["class_mix"]["tvd"], "None"))
        values.append(("DriftDetected", 1.0 if drift["drift_detected"] else 0.0, "None"))
    return [{"MetricName": name, "Dimensions": dims, "Timestamp": timestamp, "Value": float(value), "Unit": unit}
            for name, value, unit in values]


def run_drift_check(config: DriftConfig, now: datetime, s3: Any, cloudwatch: Any) -> dict[str, Any]:
    """The whole check with injected clients (the handler is this plus boto3 and the environment)."""
    start = now - timedelta(hours=config.window_hours)
    baseline = load_baseline_s3(s3, config.baseline_uri) if config.baseline_uri else None
    names = config.class_names or (baseline.class_names if baseline else DEFAULT_CLASS_NAMES)

    objects = list_capture_objects(s3, config.capture_bucket, config.capture_prefix, start, now)
    parsed = parse_s3_objects(s3, config.capture_bucket, [o["Key"] for o in objects], n_classes=len(names))
    in_window = [r for r in parsed.records if start <= r.inference_time <= now]

    report = build_report(in_window, parsed.bad, baseline, threshold=config.threshold, class_names=names,
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
    for i in range(0, len(datums), 20):  # stay well inside put_metric_data's per-call limits
        cloudwatch.put_metric_data(Namespace=config.namespace, MetricData=datums[i:i + 20])
    report["metrics"] = {
        "namespace": config.namespace,
        "dimensions": {"EndpointName": config.endpoint_name},
        "published": {d["MetricName"]: d["Value"] for d in datums},
    }
    return report


def handler(event: Any, context: Any) -> dict[str, Any]:
    config = DriftConfig.from_env(os.environ)
    now = _event_time(event) or datetime.now(timezone.utc)
    report = run_drift_check(config, now, boto3.client("s3"), boto3.client("cloudwatch"))
    print(json.dumps({"message": "drift check", **{k: report[k] for k in (
        "endpoint_name", "records", "bad_records", "class_counts", "mean_confidence", "low_confidence_share")},
        "drift_detected": report["drift"].get("drift_detected"), "reasons": report["drift"].get("reasons")}))
    return report
