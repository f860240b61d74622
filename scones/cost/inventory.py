"""Read the synthesized templates into plain data: what the deployment declares that costs money.

Contract
    `read_inventory(templates)` takes {stack name: CloudFormation template} and returns an
    `Inventory`. Everything is found by resource type (never by logical id or stack name), so
    resources other stacks add later (a DynamoDB table, an HTTP API with Cognito, a second state
    machine) are picked up as they land. Resource types with a price that this model does not know
    are listed in `Inventory.unpriced`, so nothing is silently left out; types that cost nothing by
    themselves (IAM, policies, permissions, rules, custom resources...) are in `FREE_TYPES`.

    A state machine is "upload-triggered" when an `AWS::Events::Rule` matching S3 `Object Created`
    events targets it: that one runs once per uploaded image. Other state machines run on demand
    (a batch) or at deploy time (the CDK provider's waiter), and are priced per run.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .definition import parse_definition, token_target

HOURS_PER_MONTH = 730  # AWS's own monthly convention (8,760 h / 12)

# Declared resources that cost nothing by themselves (their usage is priced where it happens).
FREE_TYPES = {
    "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::Lambda::Permission",
    "AWS::Lambda::LayerVersion", "AWS::Lambda::EventInvokeConfig", "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::SNS::Subscription", "AWS::SNS::Topic",
    "AWS::Events::Rule", "AWS::Events::EventBus", "AWS::Events::EventBusPolicy",
    "AWS::ApplicationAutoScaling::ScalableTarget", "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::SageMaker::Model", "AWS::SageMaker::Endpoint", "AWS::CDK::Metadata", "AWS::KMS::Alias",
    "AWS::Cognito::UserPoolClient", "AWS::Cognito::UserPoolDomain", "AWS::Cognito::UserPoolGroup",
    "AWS::ApiGatewayV2::Stage", "AWS::ApiGatewayV2::Route", "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Authorizer", "AWS::ApiGatewayV2::Deployment", "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Stage", "AWS::ApiGateway::Resource", "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Account", "AWS::ApiGateway::Authorizer", "AWS::Logs::ResourcePolicy",
}
# Priced through the records below (functions, machines, endpoint, buckets, logs, alarms...).
PRICED_TYPES = {
    "AWS::Lambda::Function", "AWS::StepFunctions::StateMachine", "AWS::SageMaker::EndpointConfig",
    "AWS::S3::Bucket", "AWS::Logs::LogGroup", "AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm",
    "AWS::CloudWatch::Dashboard", "AWS::SQS::Queue", "AWS::KMS::Key", "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable", "AWS::ApiGatewayV2::Api", "AWS::ApiGateway::RestApi",
    "AWS::Cognito::UserPool",
}


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler: str  # "lambdas.serialize.handler.handler": the key measurements are stored under
    memory_mb: int
    architecture: str  # "arm64" | "x86_64"
    timeout_s: int
    tracing: bool
    log_group: str | None  # logical id of its log group
    environment: dict[str, str] = field(default_factory=dict, compare=False, hash=False)  # literal values only


@dataclass(frozen=True)
class StateMachine:
    logical_id: str
    type: str  # STANDARD | EXPRESS
    definition: dict[str, Any]
    log_level: str  # ALL | ERROR | FATAL | OFF
    include_execution_data: bool
    tracing: bool
    log_group: str | None
    upload_triggered: bool


@dataclass(frozen=True)
class Endpoint:
    config_id: str
    instance_type: str | None  # None for a serverless variant
    initial_instance_count: int
    serverless_memory_mb: int | None
    capture_percent: int  # 0 when data capture is off
    min_capacity: int
    max_capacity: int
    target_invocations_per_instance_minute: float | None

    @property
    def serverless(self) -> bool:
        return self.serverless_memory_mb is not None


@dataclass(frozen=True)
class LifecycleRule:
    prefix: str  # "" applies to every key
    transition_days: int | None
    transition_class: str | None
    expiration_days: int | None


@dataclass(frozen=True)
class Bucket:
    logical_id: str
    versioned: bool
    logs_to: str | None  # logical id of the bucket receiving its server access logs
    rules: tuple[LifecycleRule, ...]

    def rule_for(self, key_prefix: str) -> LifecycleRule | None:
        """The most specific current-version rule whose prefix covers `key_prefix`."""
        matching = [r for r in self.rules if key_prefix.startswith(r.prefix)
                    and (r.expiration_days or r.transition_days)]
        return max(matching, key=lambda r: len(r.prefix), default=None)


@dataclass(frozen=True)
class Alarm:
    logical_id: str
    metric_count: int  # a metric-math alarm is billed per metric it reads
    high_resolution: bool
    composite: bool
    custom_metrics: tuple[str, ...]  # "namespace/name{dims}" of non-AWS metrics it reads


@dataclass(frozen=True)
class Schedule:
    logical_id: str
    runs_per_month: float
    function_targets: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    logical_id: str
    on_demand: bool
    read_capacity: int
    write_capacity: int
    ttl_attribute: str | None = None  # items expire (DynamoDB TTL on this attribute)


@dataclass
class Inventory:
    functions: dict[str, Function] = field(default_factory=dict)
    state_machines: dict[str, StateMachine] = field(default_factory=dict)
    endpoints: list[Endpoint] = field(default_factory=list)
    buckets: dict[str, Bucket] = field(default_factory=dict)
    log_retention_days: dict[str, int | None] = field(default_factory=dict)  # log group -> days (None: never)
    alarms: list[Alarm] = field(default_factory=list)
    dashboards: int = 0
    schedules: list[Schedule] = field(default_factory=list)
    queues: int = 0
    kms_keys: int = 0
    tables: list[Table] = field(default_factory=list)
    apis: dict[str, str] = field(default_factory=dict)  # logical id -> HTTP | REST | WEBSOCKET
    user_pools: int = 0
    training_jobs: list[dict[str, Any]] = field(default_factory=list)  # instance type, max runtime
    unpriced: dict[str, int] = field(default_factory=dict)

    def upload_machine(self) -> StateMachine:
        machines = [m for m in self.state_machines.values() if m.upload_triggered]
        if len(machines) != 1:
            raise ValueError(f"expected one state machine started by S3 uploads, found {len(machines)}: "
                             f"{[m.logical_id for m in machines]}")
        return machines[0]


def _resources(templates: dict[str, dict[str, Any]]):
    for template in templates.values():
        yield from template.get("Resources", {}).items()


def _ref_id(value: Any) -> str | None:
    """Logical id behind a Ref / GetAtt (or a placeholder string), if any."""
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        attr = value["Fn::GetAtt"]
        return (attr if isinstance(attr, list) else attr.split("."))[0]
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        return None
    return token_target(value) if isinstance(value, str) else None


def _function(logical_id: str, p: dict[str, Any]) -> Function:
    return Function(
        logical_id=logical_id, handler=str(p.get("Handler", logical_id)), memory_mb=int(p.get("MemorySize", 128)),
        architecture=(p.get("Architectures") or ["x86_64"])[0], timeout_s=int(p.get("Timeout", 3)),
        tracing=p.get("TracingConfig", {}).get("Mode") == "Active",
        log_group=_ref_id(p.get("LoggingConfig", {}).get("LogGroup")),
        # a token (a bucket name, a table's Ref) is not a value the model can use: literals only
        environment={k: v for k, v in p.get("Environment", {}).get("Variables", {}).items() if isinstance(v, str)},
    )


def _machine(logical_id: str, p: dict[str, Any], upload_targets: set[str]) -> StateMachine:
    logging = p.get("LoggingConfiguration", {})
    destinations = logging.get("Destinations", [])
    group = _ref_id(destinations[0].get("CloudWatchLogsLogGroup", {}).get("LogGroupArn")) if destinations else None
    return StateMachine(
        logical_id=logical_id, type=p.get("StateMachineType", "STANDARD"),
        definition=parse_definition(p.get("DefinitionString", p.get("Definition"))),
        log_level=logging.get("Level", "OFF") if destinations else "OFF",
        include_execution_data=bool(logging.get("IncludeExecutionData", False)),
        tracing=bool(p.get("TracingConfiguration", {}).get("Enabled", False)),
        log_group=group, upload_triggered=logical_id in upload_targets,
    )


def _upload_targets(templates: dict[str, dict[str, Any]]) -> set[str]:
    targets = set()
    for _, resource in _resources(templates):
        if resource["Type"] != "AWS::Events::Rule":
            continue
        pattern = resource["Properties"].get("EventPattern") or {}
        if "aws.s3" in pattern.get("source", []) and "Object Created" in pattern.get("detail-type", []):
            targets |= {_ref_id(t.get("Arn")) for t in resource["Properties"].get("Targets", [])}
    return targets


_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")
_PER_MONTH = {"minute": 60 * HOURS_PER_MONTH, "hour": HOURS_PER_MONTH, "day": HOURS_PER_MONTH / 24}


def runs_per_month(expression: str) -> float:
    """`rate(N unit)` -> runs in a 730-hour month. Other expressions (cron) are refused by name."""
    match = _RATE.fullmatch(expression.strip())
    if not match:
        raise ValueError(f"schedule {expression!r}: only rate(...) expressions are modelled")
    count, unit = int(match.group(1)), match.group(2).rstrip("s")
    return _PER_MONTH[unit] / count


def _endpoints(templates: dict[str, dict[str, Any]]) -> list[Endpoint]:
    scaling = {}
    targets = {}
    for logical_id, resource in _resources(templates):
        p = resource.get("Properties", {})
        if resource["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget" and \
                p.get("ScalableDimension") == "sagemaker:variant:DesiredInstanceCount":
            scaling[logical_id] = (int(p["MinCapacity"]), int(p["MaxCapacity"]))
        if resource["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy":
            spec = p.get("TargetTrackingScalingPolicyConfiguration", {})
            metric = spec.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
            if metric == "SageMakerVariantInvocationsPerInstance":
                targets[_ref_id(p.get("ScalingTargetId"))] = float(spec["TargetValue"])
    # One deployment has one endpoint config today; with several, each is priced with the bounds found.
    bounds = next(iter(scaling.items()), None)
    endpoints = []
    for logical_id, resource in _resources(templates):
        if resource["Type"] != "AWS::SageMaker::EndpointConfig":
            continue
        p = resource["Properties"]
        capture = p.get("DataCaptureConfig", {})
        percent = int(capture.get("InitialSamplingPercentage", 0)) if capture.get("EnableCapture", True) and capture else 0
        for variant in p.get("ProductionVariants", []):
            serverless = variant.get("ServerlessConfig")
            count = int(variant.get("InitialInstanceCount", 0 if serverless else 1))
            low, high = bounds[1] if bounds else (count, count)
            endpoints.append(Endpoint(
                config_id=logical_id, instance_type=variant.get("InstanceType"), initial_instance_count=count,
                serverless_memory_mb=int(serverless["MemorySizeInMB"]) if serverless else None,
                capture_percent=percent, min_capacity=low, max_capacity=high,
                target_invocations_per_instance_minute=targets.get(bounds[0]) if bounds else None))
    return endpoints


def _metric_key(metric: dict[str, Any]) -> str:
    dims = ",".join(f"{d['Name']}={d['Value'] if isinstance(d['Value'], str) else json.dumps(d['Value'], sort_keys=True)}"
                    for d in metric.get("Dimensions", []) if isinstance(d, dict))
    return f"{metric.get('Namespace')}/{metric.get('MetricName')}{{{dims}}}"


def _alarm(logical_id: str, resource: dict[str, Any]) -> Alarm:
    p = resource["Properties"]
    if resource["Type"] == "AWS::CloudWatch::CompositeAlarm":
        return Alarm(logical_id, 1, False, True, ())
    if "Metrics" in p:
        stats = [m["MetricStat"] for m in p["Metrics"] if "MetricStat" in m]
        metrics = [s["Metric"] for s in stats]
        high = any(int(s.get("Period", 60)) < 60 for s in stats)
    else:
        metrics = [{"Namespace": p.get("Namespace"), "MetricName": p.get("MetricName"),
                    "Dimensions": p.get("Dimensions", [])}]
        high = int(p.get("Period", 60)) < 60
    custom = tuple(_metric_key(m) for m in metrics if not str(m.get("Namespace", "")).startswith("AWS/"))
    return Alarm(logical_id, max(1, len(metrics)), high, False, custom)


def _bucket(logical_id: str, p: dict[str, Any]) -> Bucket:
    rules = []
    for rule in p.get("LifecycleConfiguration", {}).get("Rules", []):
        if rule.get("Status", "Enabled") != "Enabled":
            continue
        prefix = rule.get("Prefix", rule.get("Filter", {}).get("Prefix", "")) or ""
        transitions = rule.get("Transitions", [])
        first = min(transitions, key=lambda t: int(t["TransitionInDays"]), default=None)
        rules.append(LifecycleRule(
            prefix=prefix, transition_days=int(first["TransitionInDays"]) if first else None,
            transition_class=first["StorageClass"] if first else None,
            expiration_days=int(rule["ExpirationInDays"]) if "ExpirationInDays" in rule else None))
    return Bucket(logical_id=logical_id, versioned=p.get("VersioningConfiguration", {}).get("Status") == "Enabled",
                  logs_to=_ref_id(p.get("LoggingConfiguration", {}).get("DestinationBucketName")),
                  rules=tuple(rules))


def read_inventory(templates: dict[str, dict[str, Any]]) -> Inventory:
    """Every cost-relevant resource of every stack (see the module docstring)."""
    inventory = Inventory()
    upload_targets = _upload_targets(templates)
    for logical_id, resource in _resources(templates):
        kind, p = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::Lambda::Function":
            inventory.functions[logical_id] = _function(logical_id, p)
        elif kind == "AWS::StepFunctions::StateMachine":
            inventory.state_machines[logical_id] = _machine(logical_id, p, upload_targets)
        elif kind == "AWS::S3::Bucket":
            inventory.buckets[logical_id] = _bucket(logical_id, p)
        elif kind == "AWS::Logs::LogGroup":
            days = p.get("RetentionInDays")
            inventory.log_retention_days[logical_id] = int(days) if days else None
        elif kind in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
            inventory.alarms.append(_alarm(logical_id, resource))
        elif kind == "AWS::CloudWatch::Dashboard":
            inventory.dashboards += 1
        elif kind == "AWS::SQS::Queue":
            inventory.queues += 1
        elif kind == "AWS::KMS::Key":
            inventory.kms_keys += 1
        elif kind in ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"):
            throughput = p.get("ProvisionedThroughput", {})
            ttl = p.get("TimeToLiveSpecification") or {}
            inventory.tables.append(Table(logical_id, p.get("BillingMode", "PROVISIONED") == "PAY_PER_REQUEST",
                                          int(throughput.get("ReadCapacityUnits", 0)),
                                          int(throughput.get("WriteCapacityUnits", 0)),
                                          ttl.get("AttributeName") if ttl.get("Enabled") else None))
        elif kind == "AWS::ApiGatewayV2::Api":
            inventory.apis[logical_id] = p.get("ProtocolType", "HTTP")
        elif kind == "AWS::ApiGateway::RestApi":
            inventory.apis[logical_id] = "REST"
        elif kind == "AWS::Cognito::UserPool":
            inventory.user_pools += 1
        elif kind == "AWS::Events::Rule" and "ScheduleExpression" in p:
            inventory.schedules.append(Schedule(logical_id, runs_per_month(p["ScheduleExpression"]),
                                                tuple(filter(None, (_ref_id(t.get("Arn")) for t in p.get("Targets", []))))))
        elif kind.startswith("Custom::") and "InstanceType" in p and "MaxRuntimeInSeconds" in p:
            inventory.training_jobs.append({"instance_type": p["InstanceType"],
                                            "max_runtime_s": int(p["MaxRuntimeInSeconds"])})
        elif kind not in FREE_TYPES and kind not in PRICED_TYPES and not kind.startswith("Custom::"):
            inventory.unpriced[kind] = inventory.unpriced.get(kind, 0) + 1
    inventory.endpoints = _endpoints(templates)
    return inventory


def describe(inventory: Inventory) -> dict[str, Any]:
    """A JSON-ready summary of what was read (shown by `scones cost --json`)."""
    return json.loads(json.dumps({
        "functions": {f.logical_id: {"handler": f.handler, "memory_mb": f.memory_mb, "architecture": f.architecture}
                      for f in inventory.functions.values()},
        "state_machines": {m.logical_id: {"type": m.type, "upload_triggered": m.upload_triggered,
                                          "log_level": m.log_level} for m in inventory.state_machines.values()},
        "endpoints": [e.__dict__ for e in inventory.endpoints],
        "alarms": len(inventory.alarms), "dashboards": inventory.dashboards, "queues": inventory.queues,
        "kms_keys": inventory.kms_keys, "tables": [t.__dict__ for t in inventory.tables], "apis": inventory.apis,
        "user_pools": inventory.user_pools, "unpriced_resource_types": inventory.unpriced,
    }))
