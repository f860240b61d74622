"""dashboard: the one operations dashboard covers the workflow, the endpoint, model quality and every alarm."""
from __future__ import annotations

import json
import re

import pytest

from scones_contracts.endpoint import VARIANT_NAME
from tests.stacks.template_helpers import state_machine
from tests.stacks.monitoring_support import (config, drift_fn, logical_id, raw, render, service_of,  # noqa: F401
                                             workflow, workflow_function)


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
            ("AWS/Lambda", "Throttles"), ("AWS/SQS", "ApproximateNumberOfMessagesVisible")} <= names
    functions = {d.get("FunctionName") for ns, name, d in metrics if (ns, name) == ("AWS/Lambda", "Errors")}
    workflow_functions = ("serialize", "classify", "check_confidence", "open_review", "expire_review")
    assert functions == {f"<Ref:{workflow_function(workflow, p)}>" for p in workflow_functions} | {f"<Ref:{drift_fn}>"}
    machines = {d.get("StateMachineArn") for ns, name, d in metrics if ns == "AWS/States"}
    assert machines == {f"<Ref:{state_machine(workflow)[0]}>"}
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


def test_dashboard_has_the_human_review_widgets(dashboard_metrics, config):
    """Reviews decided, time to decision, reviewer agreement on low-confidence items, live accuracy from
    audits: each a widget over the review API's metrics ([service, ReviewReason])."""
    body, metrics = dashboard_metrics
    titles = {w["properties"].get("title") for w in body["widgets"]}
    assert {"Reviews decided", "Time to decision", "Reviewer agrees with the model (low confidence)",
            f"Live accuracy from audits ({config.review.live_accuracy_window_hours} h)"} <= titles
    api = config.resource_name("review-api")
    own = {(name, d.get("ReviewReason")) for ns, name, d in metrics
           if ns == config.monitoring.metrics_namespace and d.get("service") == api}
    assert {("ReviewsDecided", "low_confidence"), ("ReviewsDecided", "audit"), ("ReviewsDecided", "processing_failed"),
            ("ReviewDecisionSeconds", "low_confidence"), ("ReviewerAgreedWithModel", "low_confidence"),
            ("AuditModelCorrect", "audit")} <= own, own
