"""The scheduled drift Lambda under moto: S3 capture in the nested layout, CloudWatch metrics out."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

import dataclasses

from lambdas.drift.capture import parse_paths
from lambdas.drift.handler import handler, run_drift_check
from lambdas.drift.s3_capture import object_in_window
from lambdas.drift.settings import DriftConfig
from lambdas.shared.aws_clients import reset_clients
from scones.capture_writer import CaptureWriter
from scones_contracts.baseline import BaselineError
from scones_contracts.env import ConfigurationError
from scones_contracts.metrics import DEFAULT_NAMESPACE
from tests.lambdas.lambda_helpers import DATA_BUCKET

BUCKET = DATA_BUCKET  # as the templates name it: IAM is enforced against the drift role (tests/lambdas/conftest)
NAMESPACE = DEFAULT_NAMESPACE
METRICS = {"DriftConfidencePSI", "DriftClassMixShift", "CapturedRecords", "CaptureBadRecords",
           "CaptureLowConfidenceShare", "CaptureMeanConfidence"}


@pytest.fixture
def aws(monkeypatch, lib):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "CLASS_MIX_THRESHOLD",
                "LOW_CONFIDENCE_DELTA_THRESHOLD"):
        monkeypatch.delenv(key, raising=False)
    # What the monitoring stack sets (a test overrides what it is about).
    for key, value in {"CAPTURE_BUCKET": BUCKET, "CAPTURE_PREFIX": f"datacapture/{lib.ENDPOINT}/",
                       "BASELINE_S3_URI": f"s3://{BUCKET}/models/baseline.json", "WINDOW_HOURS": "24",
                       "THRESHOLD": "0.93", "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE, "ENDPOINT_NAME": lib.ENDPOINT,
                       "PSI_THRESHOLD": "0.2", "MIN_RECORDS": "30", "CLASS_NAMES": "bicycle,motorcycle"}.items():
        monkeypatch.setenv(key, value)
    reset_clients()
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        yield s3, boto3.client("cloudwatch")
    reset_clients()


def _upload_tree(s3, root, prefix):
    keys = []
    for path in sorted(root.rglob("*.jsonl")):
        key = prefix + path.relative_to(root).as_posix()
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


def _metric_values(cw, endpoint, when):
    dims = [{"Name": "EndpointName", "Value": endpoint}]
    listed = cw.list_metrics(Namespace=NAMESPACE)["Metrics"]
    assert all(m["Dimensions"] == dims for m in listed)
    values = {}
    for metric in listed:
        stats = cw.get_metric_statistics(Namespace=NAMESPACE, MetricName=metric["MetricName"], Dimensions=dims,
                                         StartTime=when - timedelta(hours=1), EndTime=when + timedelta(hours=1),
                                         Period=3600, Statistics=["Maximum", "SampleCount"])
        (point,) = stats["Datapoints"]
        assert point["SampleCount"] == 1
        values[metric["MetricName"]] = point["Maximum"]
    return values


def _in_window(lib, root, start, end):
    objs = [json.loads(line) for _, line in lib.raw_capture_lines(root)]
    times = [datetime.fromisoformat(o["eventMetadata"]["inferenceTime"].replace("Z", "+00:00")) for o in objs]
    return [o for o, t in zip(objs, times) if start <= t <= end]


def test_real_capture_in_window_with_baseline_from_model_tar_gz(aws, lib, monkeypatch, baseline_dict, iam, roles_for):
    s3, cw = aws
    iam.roles = roles_for(drift_baseline_key="models/v3/model.tar.gz")  # the role reads that key then
    prefix = f"datacapture/{lib.ENDPOINT}/"
    _upload_tree(s3, lib.REAL_CAPTURE, prefix)  # hours 2024-10-15T14 (outside) and 2024-10-16T09 (inside)
    # a malformed file inside the window, one in a later hour folder, and a key without hour folders
    (bad,) = lib.MALFORMED.rglob("*.jsonl")
    s3.put_object(Bucket=BUCKET, Key=prefix + "AllTraffic/2024/10/16/08/" + bad.name, Body=bad.read_bytes())
    s3.put_object(Bucket=BUCKET, Key=prefix + "AllTraffic/2024/10/16/11/later.jsonl", Body=bad.read_bytes())
    s3.put_object(Bucket=BUCKET, Key=prefix + "AllTraffic/2024/10/16/09/notes.txt", Body=b"not capture")
    s3.put_object(Bucket=BUCKET, Key="models/v3/model.tar.gz", Body=lib.model_tar_gz(baseline_dict))
    monkeypatch.setenv("BASELINE_S3_URI", f"s3://{BUCKET}/models/v3/model.tar.gz")
    monkeypatch.setenv("WINDOW_HOURS", "6")

    now = lib.utc(2024, 10, 16, 10)
    report = handler({"source": "aws.events", "detail-type": "Scheduled Event", "time": "2024-10-16T10:00:00Z"},
                     None)

    expected = _in_window(lib, lib.REAL_CAPTURE, now - timedelta(hours=6), now)
    probs = [lib.raw_output_probs(o) for o in expected]
    malformed = lib.raw_capture_lines(lib.MALFORMED)
    good_malformed_times = [json.loads(line)["eventMetadata"]["inferenceTime"] for _, line in malformed
                            if line.startswith("{") and '"ok-' in line]
    # the malformed file's valid records carry 2024-10-17 times: read (hour folder 08) but outside the window
    assert report["capture"]["records_outside_window"] == len(good_malformed_times)
    assert report["records"] == len(expected) == 20
    assert report["class_counts"] == {n: sum(1 for p in probs if lib.CLASS_NAMES[p.index(max(p))] == n)
                                      for n in lib.CLASS_NAMES}
    assert report["mean_confidence"] == pytest.approx(sum(max(p) for p in probs) / len(probs))
    malformed_bad = len(parse_paths(lib.MALFORMED).bad)  # line by line checked in test_drift_capture
    assert report["bad_records"] == malformed_bad  # counted once: only the hour-08 copy was read
    hour_09_files = list((lib.REAL_CAPTURE / "AllTraffic" / "2024" / "10" / "16" / "09").glob("*.jsonl"))
    assert report["capture"]["objects_read"] == len(hour_09_files) + 1  # + the malformed file in hour 08
    assert len(report["bad_record_examples"]) == min(5, malformed_bad)
    assert all(b["file"].startswith(f"s3://{BUCKET}/{prefix}AllTraffic/2024/10/16/08/")
               for b in report["bad_record_examples"])
    assert report["window"] == {"start": "2024-10-16T04:00:00Z", "end": "2024-10-16T10:00:00Z", "hours": 6.0}
    drift = report["drift"]
    assert drift["computed"] is True and drift["sample_size"] == 20
    assert drift["sufficient_sample"] is False and drift["drift_detected"] is False  # 20 < 30
    json.dumps(report)  # a Lambda result must be JSON-serialisable

    values = _metric_values(cw, lib.ENDPOINT, now)
    assert METRICS <= set(values)
    assert values["CapturedRecords"] == 20
    assert values["CaptureBadRecords"] == malformed_bad
    assert values["CaptureMeanConfidence"] == pytest.approx(report["mean_confidence"])
    assert values["CaptureLowConfidenceShare"] == pytest.approx(report["low_confidence_share"])
    assert values["DriftConfidencePSI"] == pytest.approx(drift["confidence_psi"])
    assert values["DriftClassMixShift"] == pytest.approx(drift["class_mix"]["tvd"])
    assert values["DriftDetected"] == 0
    assert report["metrics"]["published"]["CapturedRecords"] == 20


def test_drifted_traffic_flags_drift_and_publishes_it(aws, lib, monkeypatch, tmp_path, baseline_dict):
    s3, cw = aws
    writer = CaptureWriter(tmp_path, lib.ENDPOINT)
    start = lib.utc(2024, 11, 2, 1)
    drifted = lib.sample_traffic(baseline_dict, 300, seed=21, low_confidence=True, bicycle_share=0.2)
    lib.write_traffic(writer, drifted, start, spacing=timedelta(minutes=2))  # 01:00 .. 10:58
    old = lib.sample_traffic(baseline_dict, 50, seed=22)
    lib.write_traffic(writer, old, lib.utc(2024, 10, 30, 5), spacing=timedelta(minutes=1))  # days before
    _upload_tree(s3, tmp_path / lib.ENDPOINT, f"datacapture/{lib.ENDPOINT}/")
    baseline_key = "models/baseline.json"
    s3.put_object(Bucket=BUCKET, Key=baseline_key, Body=json.dumps(baseline_dict).encode())
    monkeypatch.setenv("BASELINE_S3_URI", f"s3://{BUCKET}/{baseline_key}")
    monkeypatch.setenv("WINDOW_HOURS", "10")

    now = lib.utc(2024, 11, 2, 12, 30)  # window starts 02:30, mid-way through the 02:00 folder
    report = handler({"time": "2024-11-02T12:30:00Z"}, None)
    times = [start + i * timedelta(minutes=2) for i in range(len(drifted))]
    window_start = now - timedelta(hours=10)
    in_window = [t for t in times if window_start <= t <= now]
    read_hours = {t.replace(minute=0) for t in times if t.replace(minute=0) + timedelta(hours=1) > window_start}
    assert report["records"] == len(in_window)
    # the 02:00 folder overlaps the window only partly: its records before 02:30 are read but not counted
    assert report["capture"]["records_outside_window"] == sum(
        1 for t in times if t.replace(minute=0) in read_hours and t < window_start) > 0
    assert report["capture"]["objects_read"] == len(read_hours)
    drift = report["drift"]
    assert drift["drift_detected"] is True
    assert any(r.startswith("confidence PSI") for r in drift["reasons"])
    assert any(r.startswith("class-mix") for r in drift["reasons"])
    values = _metric_values(cw, lib.ENDPOINT, now)
    assert values["DriftDetected"] == 1
    assert values["DriftConfidencePSI"] == pytest.approx(drift["confidence_psi"]) and values["DriftConfidencePSI"] > 0.2
    assert values["DriftClassMixShift"] > 0.15
    assert values["CapturedRecords"] == len(in_window)


def test_without_baseline_capture_metrics_only(aws, lib, monkeypatch):
    s3, cw = aws
    _upload_tree(s3, lib.REAL_CAPTURE, f"datacapture/{lib.ENDPOINT}/")
    monkeypatch.setenv("WINDOW_HOURS", "48")
    config = dataclasses.replace(DriftConfig.from_env(), baseline_uri=None)
    report = run_drift_check(config, lib.utc(2024, 10, 16, 12), s3, cw)
    assert report["records"] == 22
    assert report["drift"] == {"computed": False, "reason": "no baseline given"}
    values = _metric_values(cw, lib.ENDPOINT, lib.utc(2024, 10, 16, 12))
    assert set(values) == {"CapturedRecords", "CaptureBadRecords", "CaptureLowConfidenceShare",
                           "CaptureMeanConfidence"}
    assert values["CapturedRecords"] == 22 and values["CaptureBadRecords"] == 0


def test_empty_window_publishes_zero_records(aws, lib, monkeypatch, baseline_dict):
    s3, cw = aws
    _upload_tree(s3, lib.REAL_CAPTURE, f"datacapture/{lib.ENDPOINT}/")
    s3.put_object(Bucket=BUCKET, Key="models/baseline.json", Body=json.dumps(baseline_dict).encode())
    report = handler({"time": "2025-01-01T00:00:00Z"}, None)
    assert report["records"] == 0 and report["capture"]["objects_read"] == 0
    values = _metric_values(cw, lib.ENDPOINT, lib.utc(2025, 1, 1))
    assert values == {"CapturedRecords": 0.0, "CaptureBadRecords": 0.0}


def test_bad_baseline_fails_the_invocation(aws, lib, monkeypatch, iam):
    s3, _ = aws
    s3.put_object(Bucket=BUCKET, Key="models/baseline.json", Body=b'{"version": 1}')
    with pytest.raises(BaselineError, match="missing key"):
        handler({"time": "2024-10-16T10:00:00Z"}, None)
    s3.delete_object(Bucket=BUCKET, Key="models/baseline.json")
    with pytest.raises(BaselineError, match="cannot read baseline"):
        handler({"time": "2024-10-16T10:00:00Z"}, None)
    # The role may not list models/, so S3 answers the missing baseline with 403, not 404 (as in AWS).
    denied, = iam.take_denials()
    assert [r.action for r in denied.denied] == ["s3:ListBucket"]


STACK_ENV = {"CAPTURE_BUCKET": "b", "CAPTURE_PREFIX": "/datacapture/ep-7/", "BASELINE_S3_URI": "s3://b/models/b.json",
             "WINDOW_HOURS": "12", "THRESHOLD": "0.8", "POWERTOOLS_METRICS_NAMESPACE": "Scones/Test",
             "ENDPOINT_NAME": "ep-7", "PSI_THRESHOLD": "0.3", "MIN_RECORDS": "50", "CLASS_NAMES": "bike, moto"}


def test_config_from_env():
    config = DriftConfig.from_env(STACK_ENV)
    assert config.capture_prefix == "datacapture/ep-7/"
    assert config.endpoint_name == "ep-7" and config.namespace == "Scones/Test"
    assert config.threshold == 0.8 and config.window_hours == 12
    assert config.thresholds.min_records == 50 and config.thresholds.psi == 0.3
    assert config.thresholds.class_mix_tvd == 0.15  # optional: the default when the stack sets none
    assert config.class_names == ("bike", "moto")


@pytest.mark.parametrize("name", sorted(STACK_ENV))
def test_every_variable_the_stack_sets_is_required(name):
    with pytest.raises(ConfigurationError, match=f"{name} is not set"):
        DriftConfig.from_env({k: v for k, v in STACK_ENV.items() if k != name})


@pytest.mark.parametrize("name, value, message", [
    ("WINDOW_HOURS", "a day", "WINDOW_HOURS must be a number"), ("THRESHOLD", "0.3", "THRESHOLD must satisfy"),
    ("BASELINE_S3_URI", "models/b.json", "not an s3:// URI"), ("MIN_RECORDS", "0", "MIN_RECORDS must be >= 1"),
])
def test_bad_values_are_named(name, value, message):
    with pytest.raises(ConfigurationError, match=message):
        DriftConfig.from_env({**STACK_ENV, name: value})


def test_object_selection_by_hour_folder_or_last_modified():
    from scones_contracts.capture import hour_of_key

    start = datetime(2024, 10, 16, 4, 30, tzinfo=timezone.utc)
    end = datetime(2024, 10, 16, 10, tzinfo=timezone.utc)
    assert hour_of_key("datacapture/ep/AllTraffic/2024/10/16/09/30-13-796-x.jsonl") == datetime(
        2024, 10, 16, 9, tzinfo=timezone.utc)
    assert hour_of_key("datacapture/ep/AllTraffic/2024/13/16/09/x.jsonl") is None  # month 13: no hour
    assert hour_of_key("datacapture/ep/x.jsonl") is None

    def key(hour):
        return {"Key": f"p/AllTraffic/2024/10/16/{hour:02d}/f.jsonl"}

    selected = [h for h in range(24) if object_in_window(key(h), start, end)]
    assert selected == [4, 5, 6, 7, 8, 9, 10]  # 04 overlaps the window partly, 10 starts at its end
    stray = {"Key": "p/f.jsonl"}
    assert object_in_window({**stray, "LastModified": start - timedelta(seconds=1)}, start, end) is False
    assert object_in_window({**stray, "LastModified": start + timedelta(hours=1)}, start, end) is True
    # written after the window closed, may still hold records from inside it
    assert object_in_window({**stray, "LastModified": end + timedelta(hours=2)}, start, end) is True
    assert object_in_window(stray, start, end) is True


def test_the_check_lists_only_the_hour_folders_of_its_window(aws, lib, monkeypatch, baseline_dict):
    """A year of capture under the prefix: the hourly check lists its 25 hour folders (and the
    variants once), nothing outside the window."""
    s3, _ = aws
    prefix = f"datacapture/{lib.ENDPOINT}/"
    (capture,) = lib.MALFORMED.rglob("*.jsonl")
    body = capture.read_bytes()
    now = lib.utc(2024, 10, 16, 10)
    outside = [now - timedelta(days=300), now - timedelta(hours=25), now + timedelta(hours=1)]
    inside = [now - timedelta(hours=24), now - timedelta(hours=3), now]
    for variant in ("AllTraffic", "Canary"):
        for when in outside + inside:
            s3.put_object(Bucket=BUCKET, Key=f"{prefix}{variant}/{when:%Y/%m/%d/%H}/{when:%M}-x.jsonl", Body=body)
    s3.put_object(Bucket=BUCKET, Key="models/baseline.json", Body=json.dumps(baseline_dict).encode())
    listed, returned = [], []
    s3.meta.events.register("before-parameter-build.s3.ListObjectsV2", lambda params, **_: listed.append(dict(params)))
    s3.meta.events.register("after-call.s3.ListObjectsV2",
                            lambda parsed, **_: returned.extend(o["Key"] for o in parsed.get("Contents", [])))
    config = dataclasses.replace(DriftConfig.from_env(), window_hours=24)

    report = run_drift_check(config, now, s3, boto3.client("cloudwatch"))

    hour_prefixes = [p["Prefix"] for p in listed if "Delimiter" not in p]
    assert [(p["Prefix"], p["Delimiter"]) for p in listed if "Delimiter" in p] == [(prefix, "/")]
    assert len(hour_prefixes) == 2 * 25 and len(set(hour_prefixes)) == 50
    window = {f"{(now - timedelta(hours=h)):%Y/%m/%d/%H}/" for h in range(25)}
    assert all(p.split("/", 3)[3] in window for p in hour_prefixes), hour_prefixes
    assert sorted(returned) == sorted(f"{prefix}{v}/{w:%Y/%m/%d/%H}/{w:%M}-x.jsonl"
                                      for v in ("AllTraffic", "Canary") for w in inside)
    assert report["capture"]["objects_read"] == 6
