"""The scheduled drift check as the monitoring stack deploys it, under moto.

Everything comes from the synthesized templates: the handler is imported from the function's own
asset folder in cdk.out (as Lambda would load `lambdas.drift.handler.handler`), its environment is the
template's (bucket name resolved for the test account/region), the capture objects and the baseline
go where that environment says, and the metrics are read back with the namespace, metric names,
dimensions, period and statistic of the drift PSI alarm, whose metric-math expression is then
evaluated on them. A renamed metric, a wrong dimension or namespace in either the stack or the
Lambda fails here. Every AWS call the handler makes is also checked against the drift role's policy
(scones.local.iam_enforcement, enforced for every test under tests/lambdas).
"""
from __future__ import annotations

import importlib
import json
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from scones.local.cfn import Resolver
from scones.local.iam_policy import Decision, evaluate
from tests.conftest import ROOT

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
CAPTURE = ROOT / "tests" / "fixtures" / "datacapture" / "scones-vehicle-classifier"


# ------------------------------------------------------------------------------ from the template
@pytest.fixture(scope="module")
def monitoring(assembly) -> dict:
    [template] = [t for name, t in assembly.templates.items() if name.endswith("Monitoring")]
    return template


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    return Resolver(ACCOUNT, REGION)


@pytest.fixture(scope="module")
def drift_function(monitoring) -> tuple[str, dict]:
    [found] = [(k, r["Properties"]) for k, r in monitoring["Resources"].items()
               if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == "lambdas.drift.handler.handler"]
    return found


@pytest.fixture(scope="module")
def environment(drift_function, resolver) -> dict[str, str]:
    return resolver.resolve(drift_function[1]["Environment"]["Variables"])


@pytest.fixture(scope="module")
def psi_alarm(monitoring) -> dict:
    [alarm] = [r["Properties"] for r in monitoring["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
               and "DriftConfidencePSI" in json.dumps(r["Properties"].get("Metrics", []))]
    return alarm


ASSET_PACKAGES = ("lambdas", "scones_contracts")


def _asset_modules() -> dict:
    return {k: m for k, m in sys.modules.items() if k.split(".")[0] in ASSET_PACKAGES}


@pytest.fixture(scope="module")
def deployed_handler(assembly, drift_function):
    """`lambdas.drift.handler.handler` imported from the function's synthesized asset folder alone."""
    asset = Path(assembly.outdir) / f"asset.{drift_function[1]['Code']['S3Key'].removesuffix('.zip')}"
    assert (asset / "lambdas" / "drift" / "handler.py").is_file(), f"{asset} does not hold the drift package"
    shadowed = _asset_modules()
    for name in shadowed:
        del sys.modules[name]
    sys.path.insert(0, str(asset))
    try:
        module = importlib.import_module("lambdas.drift.handler")
        loaded = {name: Path(m.__file__) for name, m in _asset_modules().items()}
        assert all(path.is_relative_to(asset) for path in loaded.values()), loaded
        yield module.handler
    finally:
        sys.path.remove(str(asset))
        for name in _asset_modules():
            del sys.modules[name]
        sys.modules.update(shadowed)


# --------------------------------------------------------------------------- capture and baseline
def capture_files() -> list[Path]:
    files = sorted(CAPTURE.rglob("*.jsonl"))
    assert files
    return files


def decoded_records() -> list[tuple[datetime, list[float]]]:
    """(inferenceTime, probabilities) of every fixture line, decoded without the drift package."""
    out = []
    for path in capture_files():
        for line in path.read_text().splitlines():
            if line.strip():
                obj = json.loads(line)
                when = datetime.strptime(obj["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ")
                output = obj["captureData"]["endpointOutput"]
                assert output["encoding"] == "JSON"
                out.append((when.replace(tzinfo=timezone.utc), json.loads(output["data"])))
    return out


def window_end() -> datetime:
    return max(when for when, _ in decoded_records()) + timedelta(minutes=1)


def baseline(environment: dict, tops: list[float], labels: list[str]) -> dict:
    names = environment["CLASS_NAMES"].split(",")
    return {"version": 1, "source": "validation", "threshold": float(environment["THRESHOLD"]),
            "class_names": names, "top_confidence": tops, "predicted": labels,
            "class_counts": {n: labels.count(n) for n in names}}


def like_the_capture(environment: dict) -> dict:
    """The captured traffic's own confidence and class mix: no drift."""
    names = environment["CLASS_NAMES"].split(",")
    probs = [p for _, p in decoded_records()]
    return baseline(environment, [max(p) for p in probs], [names[p.index(max(p))] for p in probs])


def unlike_the_capture(environment: dict) -> dict:
    """A model that was unsure at training time (tops in [0.5, 0.7)) while the traffic is confident."""
    names = environment["CLASS_NAMES"].split(",")
    tops = [0.5 + 0.2 * i / 200 for i in range(200)]
    return baseline(environment, tops, [names[i % len(names)] for i in range(200)])


def s3_location(uri: str) -> tuple[str, str]:
    match = re.fullmatch(r"s3://([^/]+)/(.+)", uri)
    assert match, uri
    return match.group(1), match.group(2)


def deploy_data(environment: dict, baseline_doc: dict, copies: int = 1) -> int:
    """Upload the fixtures where SageMaker would write them (`copies` times), and the baseline."""
    s3 = boto3.client("s3", region_name=REGION)
    bucket = environment["CAPTURE_BUCKET"]
    s3.create_bucket(Bucket=bucket)
    for path in capture_files():
        relative = path.relative_to(CAPTURE).as_posix()  # AllTraffic/YYYY/MM/DD/HH/<file>.jsonl
        for copy in range(copies):
            key = environment["CAPTURE_PREFIX"] + (relative if copy == 0 else relative.replace(".jsonl", f"-{copy}.jsonl"))
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    baseline_bucket, baseline_key = s3_location(environment["BASELINE_S3_URI"])
    s3.put_object(Bucket=baseline_bucket, Key=baseline_key, Body=json.dumps(baseline_doc).encode())
    end, hours = window_end(), float(environment["WINDOW_HOURS"])
    return copies * sum(1 for when, _ in decoded_records() if end - timedelta(hours=hours) <= when <= end)


# -------------------------------------------------------------------------------- running it
class CallRecorder:
    """Every AWS operation the handler's clients make, with its parameters."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict]] = []

    def __call__(self, params, model, **_kwargs) -> None:
        self.calls.append((model.service_model.endpoint_prefix, model.name, dict(params)))


def run_scheduled_check(handler, environment: dict, monkeypatch) -> tuple[dict, CallRecorder]:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    recorder = CallRecorder()
    importlib.import_module("lambdas.shared.aws_clients").reset_clients()  # the asset's own client cache
    boto3.setup_default_session(region_name=REGION)
    boto3.DEFAULT_SESSION.events.register("before-parameter-build", recorder)
    event = {"version": "0", "id": "0f1e2d3c", "detail-type": "Scheduled Event", "source": "aws.events",
             "account": ACCOUNT, "time": window_end().strftime("%Y-%m-%dT%H:%M:%SZ"), "region": REGION,
             "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/drift"], "detail": {}}
    try:
        report = handler(event, None)
    finally:
        boto3.DEFAULT_SESSION = None
    return report, recorder


def watched_values(psi_alarm: dict) -> dict[str, float]:
    """Alarm metric id -> the datapoint moto CloudWatch holds for that exact MetricStat."""
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    end, values = window_end(), {}
    for query in psi_alarm["Metrics"]:
        if "MetricStat" not in query:
            continue
        stat, metric = query["MetricStat"], query["MetricStat"]["Metric"]
        listed = cloudwatch.list_metrics(Namespace=metric["Namespace"], MetricName=metric["MetricName"],
                                         Dimensions=metric["Dimensions"])["Metrics"]
        assert [(m["Namespace"], m["MetricName"], m["Dimensions"]) for m in listed] == \
            [(metric["Namespace"], metric["MetricName"], metric["Dimensions"])], f"{metric} was not published as watched"
        points = cloudwatch.get_metric_statistics(
            Namespace=metric["Namespace"], MetricName=metric["MetricName"], Dimensions=metric["Dimensions"],
            StartTime=end - timedelta(seconds=stat["Period"]), EndTime=end + timedelta(seconds=1),
            Period=stat["Period"], Statistics=[stat["Stat"]])["Datapoints"]
        assert len(points) == 1, (metric["MetricName"], points)
        values[query["Id"]] = points[0][stat["Stat"]]
    return values


def alarm_value(psi_alarm: dict, values: dict[str, float]) -> float:
    """Evaluate the alarm's metric-math expression (IF and arithmetic) on one datapoint per metric."""
    [expr] = [q["Expression"] for q in psi_alarm["Metrics"] if "Expression" in q]
    assert re.fullmatch(r"[A-Za-z0-9_ .()+\-*/<>=,]+", expr), expr
    return float(eval(expr.replace("IF(", "_if("),  # noqa: S307
                      {"__builtins__": {}, "_if": lambda c, a, b: a if c else b}, values))


def metric_id(psi_alarm: dict, metric_name: str) -> str:
    [found] = [q["Id"] for q in psi_alarm["Metrics"]
               if q.get("MetricStat", {}).get("Metric", {}).get("MetricName") == metric_name]
    return found


# -------------------------------------------------------------------------------------- tests
@pytest.fixture
def aws():
    with mock_aws():
        yield


def test_small_window_publishes_the_watched_metrics_but_the_gate_keeps_the_alarm_quiet(
        aws, deployed_handler, environment, psi_alarm, monkeypatch):
    expected_records = deploy_data(environment, unlike_the_capture(environment))
    report, _ = run_scheduled_check(deployed_handler, environment, monkeypatch)

    values = watched_values(psi_alarm)
    assert values[metric_id(psi_alarm, "CapturedRecords")] == expected_records == report["records"]
    psi = values[metric_id(psi_alarm, "DriftConfidencePSI")]
    assert psi == pytest.approx(report["drift"]["confidence_psi"])
    # the PSI of this handful of records is far above the threshold, yet too few records to judge drift
    assert psi > psi_alarm["Threshold"]
    assert expected_records < int(environment["MIN_RECORDS"])
    assert alarm_value(psi_alarm, values) <= psi_alarm["Threshold"]


def test_busy_window_unlike_the_baseline_breaches_the_alarm(aws, deployed_handler, environment, psi_alarm, monkeypatch):
    expected_records = deploy_data(environment, unlike_the_capture(environment), copies=3)
    assert expected_records >= int(environment["MIN_RECORDS"])
    report, _ = run_scheduled_check(deployed_handler, environment, monkeypatch)

    values = watched_values(psi_alarm)
    assert values[metric_id(psi_alarm, "CapturedRecords")] == expected_records
    assert psi_alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm_value(psi_alarm, values) > psi_alarm["Threshold"]
    assert report["drift"]["drift_detected"] is True  # the Lambda's own verdict (PSI_THRESHOLD) agrees


def test_busy_window_like_the_baseline_stays_below_the_alarm(aws, deployed_handler, environment, psi_alarm, monkeypatch):
    expected_records = deploy_data(environment, like_the_capture(environment), copies=3)
    assert expected_records >= int(environment["MIN_RECORDS"])
    report, _ = run_scheduled_check(deployed_handler, environment, monkeypatch)

    values = watched_values(psi_alarm)
    assert values[metric_id(psi_alarm, "CapturedRecords")] == expected_records
    assert alarm_value(psi_alarm, values) < psi_alarm["Threshold"]
    assert "DriftConfidencePSI" in report["metrics"]["published"]


def test_every_call_of_the_check_is_allowed_by_its_role(aws, deployed_handler, environment, iam, monkeypatch):
    """Every call below ran under the IAM check of tests/lambdas/conftest (as the drift function's role in
    the synthesized template); here: which calls those were, and that the role is narrow."""
    deploy_data(environment, like_the_capture(environment))
    run_scheduled_check(deployed_handler, environment, monkeypatch)

    handler = "lambdas.drift.handler.handler"
    assert {(c.principal.name, f"{c.call.service}:{c.call.operation}") for c in iam.checked} == {
        (handler, "s3:ListObjectsV2"), (handler, "s3:GetObject"), (handler, "cloudwatch:PutMetricData")}
    statements = iam.roles.statements(iam.roles.role_of_function(handler))
    bucket_arn = f"arn:aws:s3:::{environment['CAPTURE_BUCKET']}"
    # neighbouring requests are refused
    assert evaluate(statements, "s3:GetObject", f"{bucket_arn}/incoming/photo.png") is not Decision.ALLOW
    assert evaluate(statements, "s3:ListBucket", bucket_arn, {"s3:prefix": "incoming/"}) is not Decision.ALLOW
    assert evaluate(statements, "cloudwatch:PutMetricData", "*",
                    {"cloudwatch:namespace": "AWS/Lambda"}) is not Decision.ALLOW
