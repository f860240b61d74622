"""The one typed configuration object of the app, read from `cdk.json` context.

Defaults live here; `cdk.json` holds a `"scones": {...}` block that overrides them, and
`cdk synth -c key=value` overrides both (CLI values arrive as strings and are parsed to the
field's type). Every value is validated at synth time: a bad one fails synth with a message
naming the key and what is allowed.
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field, fields
from typing import Any, get_type_hints

from constructs import Construct

CONTEXT_KEY = "scones"

# Instance families the SageMaker PyTorch CPU containers run on (GPU families would need the
# GPU image); used to reject typos such as "ml.m55.large" at synth time.
CPU_INSTANCE_FAMILIES = ("t2", "t3", "m4", "m5", "m5d", "m6i", "m6id", "m7i", "c4", "c5", "c5d", "c6i", "c7i", "r5", "r6i")
GPU_INSTANCE_FAMILIES = ("g4dn", "g5", "g6", "p3", "p4d")
# CloudWatch Logs accepts only these retention periods (days -> aws_logs.RetentionDays member).
LOG_RETENTION_NAMES = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS",
    1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}
LOG_RETENTION_DAYS = tuple(LOG_RETENTION_NAMES)
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()\-]+(/[A-Za-z0-9!_.*'()\-]+)*/$")
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


@dataclass(frozen=True)
class SconesConfig:
    """Everything a deployment can tune. Field names are the context keys."""

    # Naming
    project_name: str = "scones"
    # Decision
    confidence_threshold: float = 0.93
    # Bucket layout
    incoming_prefix: str = "incoming/"
    quarantine_prefix: str = "quarantine/"
    capture_prefix: str = "datacapture/"
    model_prefix: str = "models/"
    training_data_prefix: str = "training-data/"
    training_output_prefix: str = "training-output/"
    # Storage lifecycle
    bucket_removal_policy: str = "retain"  # "retain" keeps data on `cdk destroy`; "destroy" empties and deletes it
    capture_transition_days: int = 30
    capture_expiration_days: int = 365
    quarantine_expiration_days: int = 180
    noncurrent_version_expiration_days: int = 30
    # Endpoint
    endpoint_name: str = "scones-vehicle-classifier"
    endpoint_instance_type: str = "ml.m5.large"
    endpoint_initial_instance_count: int = 1
    autoscaling_min_capacity: int = 1
    autoscaling_max_capacity: int = 4
    autoscaling_target_invocations_per_instance: int = 600  # per minute
    data_capture_sampling_percentage: int = 100
    pytorch_inference_version: str = "2.6.0"
    pytorch_py_version: str = "py312"
    # Training
    training_instance_type: str = "ml.m5.xlarge"
    training_max_runtime_minutes: int = 60
    training_data_version: str = "cifar100-v1"
    training_hyperparameters: dict = field(default_factory=lambda: {"seed": 7})
    min_validation_accuracy: float = 0.88
    training_volume_size_gb: int = 30
    # Endpoint deployments (blue/green, all at once): how long the new fleet takes all traffic while
    # the rollback alarms watch it before the old fleet is terminated, and what trips a rollback.
    deployment_baking_minutes: int = 10
    rollback_5xx_errors_threshold: int = 1  # Invocation5XXErrors per minute
    rollback_model_latency_ms: int = 500  # p99 ModelLatency (the alarm converts to microseconds)
    # Lambdas
    max_image_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    payload_max_side: int = 64
    serialize_memory_mb: int = 1024
    classify_memory_mb: int = 256
    filter_memory_mb: int = 256
    # Workflow
    execution_timeout_minutes: int = 15
    endpoint_max_attempts: int = 4
    review_queue_retention_days: int = 14
    log_retention_days: int = 30
    # Monitoring
    alarm_email: str = ""
    low_confidence_alarm_share: float = 0.3
    review_queue_max_age_minutes: int = 60
    drift_psi_alarm_threshold: float = 0.2
    drift_window_hours: int = 24
    metrics_namespace: str = "SconesUnlimited"
    model_latency_alarm_ms: int = 500  # p90 SageMaker ModelLatency alarm threshold (the metric itself is in µs)
    low_confidence_min_predictions: int = 20  # below this many predictions an hour the share is not judged
    drift_schedule_hours: int = 1  # the drift check runs at this rate over the last drift_window_hours
    drift_min_records: int = 30  # fewer valid captured records in the window: the PSI alarm stays quiet
    # baseline.json (or a model.tar.gz holding it) of the deployed model; the training pipeline writes it
    # under model_prefix next to model.tar.gz and the model stack deploys from there.
    drift_baseline_key: str = "models/baseline.json"
    # Official Powertools for AWS Lambda (Python) v3 layer version (publisher account 017000801446);
    # locally and in tests the pip package pinned in pyproject.toml is used instead.
    powertools_layer_version: int = 27

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def endpoint_instance_family(self) -> str:
        return self.endpoint_instance_type.split(".")[1]

    def resource_name(self, suffix: str) -> str:
        """A stable physical name for resources that need one (queues, buses, state machines)."""
        return f"{self.project_name}-{suffix}"

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> "SconesConfig":
        """Build from a dict whose values may be strings (as `-c key=value` gives them)."""
        hints = get_type_hints(cls)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config key(s) {unknown}; known keys: {sorted(known)}")
        return cls(**{k: _coerce(k, v, hints[k]) for k, v in values.items()})

    @classmethod
    def from_context(cls, scope: Construct) -> "SconesConfig":
        """Defaults <- cdk.json's "scones" block <- individual `-c key=value` overrides."""
        block = scope.node.try_get_context(CONTEXT_KEY) or {}
        if isinstance(block, str):
            block = json.loads(block)
        if not isinstance(block, dict):
            raise ConfigError(f"context '{CONTEXT_KEY}' must be an object, got {type(block).__name__}")
        values = dict(block)
        for f in fields(cls):
            override = scope.node.try_get_context(f.name)
            if override is not None:
                values[f.name] = override
        return cls.from_mapping(values)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(key: str, value: Any, typ: Any) -> Any:
    """Parse CLI strings into the field's type; reject values of the wrong type by name."""
    try:
        if typ is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false"):
                    raise ValueError
                return value.lower() == "true"
            return bool(value)
        if typ is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if typ is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if typ is dict:
            parsed = json.loads(value) if isinstance(value, str) else value
            if not isinstance(parsed, dict):
                raise ValueError
            return parsed
        if typ is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError
            return str(value)
    except (TypeError, ValueError, json.JSONDecodeError):
        raise ConfigError(f"config key '{key}': expected {getattr(typ, '__name__', typ)}, got {value!r}") from None
    return value


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"config key '{key}' = {value!r} is invalid: allowed {allowed}")


def _validate(c: SconesConfig) -> None:
    _check(0.5 <= c.confidence_threshold < 1.0, "confidence_threshold", c.confidence_threshold, "0.5 <= value < 1.0")
    _check(bool(re.fullmatch(r"[a-z][a-z0-9-]{1,20}", c.project_name)), "project_name", c.project_name,
           "2-21 lowercase letters, digits or '-', starting with a letter")
    prefixes = {}
    for key in ("incoming_prefix", "quarantine_prefix", "capture_prefix", "model_prefix",
                "training_data_prefix", "training_output_prefix"):
        value = getattr(c, key)
        _check(bool(_PREFIX.match(value)), key, value, "an S3 prefix of safe characters ending in '/', e.g. 'incoming/'")
        prefixes[key] = value
    for key, value in prefixes.items():
        for other_key, other in prefixes.items():
            _check(key == other_key or not value.startswith(other), key, value,
                   f"a prefix that does not overlap '{other_key}' ({other!r}): an upload must not re-trigger the workflow")
    _check(c.bucket_removal_policy in ("retain", "destroy"), "bucket_removal_policy", c.bucket_removal_policy, "'retain' or 'destroy'")
    _check(30 <= c.capture_transition_days <= 3650, "capture_transition_days", c.capture_transition_days,
           "30..3650 days (S3 moves objects to Standard-IA after 30 days at the earliest)")
    for key in ("capture_expiration_days", "quarantine_expiration_days", "noncurrent_version_expiration_days"):
        _check(1 <= getattr(c, key) <= 3650, key, getattr(c, key), "1..3650 days")
    _check(c.capture_expiration_days > c.capture_transition_days, "capture_expiration_days", c.capture_expiration_days,
           f"more days than capture_transition_days ({c.capture_transition_days})")
    _check(bool(_NAME.match(c.endpoint_name)), "endpoint_name", c.endpoint_name,
           "1-63 letters, digits or '-' (SageMaker endpoint naming)")
    for key in ("endpoint_instance_type", "training_instance_type"):
        value = getattr(c, key)
        parts = value.split(".")
        ok = len(parts) == 3 and parts[0] == "ml" and parts[1] in CPU_INSTANCE_FAMILIES + GPU_INSTANCE_FAMILIES
        _check(ok, key, value, f"'ml.<family>.<size>' with family in {CPU_INSTANCE_FAMILIES + GPU_INSTANCE_FAMILIES}")
    _check(c.endpoint_instance_family in CPU_INSTANCE_FAMILIES, "endpoint_instance_type", c.endpoint_instance_type,
           f"a CPU family {CPU_INSTANCE_FAMILIES}: the endpoint serves the PyTorch CPU image")
    _check(1 <= c.endpoint_initial_instance_count <= 10, "endpoint_initial_instance_count", c.endpoint_initial_instance_count, "1..10")
    _check(1 <= c.autoscaling_min_capacity <= 10, "autoscaling_min_capacity", c.autoscaling_min_capacity, "1..10")
    _check(c.autoscaling_min_capacity <= c.autoscaling_max_capacity <= 20, "autoscaling_max_capacity", c.autoscaling_max_capacity,
           f"autoscaling_min_capacity ({c.autoscaling_min_capacity})..20")
    _check(c.autoscaling_min_capacity <= c.endpoint_initial_instance_count <= c.autoscaling_max_capacity,
           "endpoint_initial_instance_count", c.endpoint_initial_instance_count, "within the autoscaling bounds")
    _check(1 <= c.autoscaling_target_invocations_per_instance <= 100_000, "autoscaling_target_invocations_per_instance",
           c.autoscaling_target_invocations_per_instance, "1..100000 per minute")
    _check(0 <= c.data_capture_sampling_percentage <= 100, "data_capture_sampling_percentage", c.data_capture_sampling_percentage, "0..100")
    _check(bool(re.fullmatch(r"\d+\.\d+(\.\d+)?", c.pytorch_inference_version)), "pytorch_inference_version",
           c.pytorch_inference_version, "a version like '2.6.0'")
    _check(bool(re.fullmatch(r"py3\d+", c.pytorch_py_version)), "pytorch_py_version", c.pytorch_py_version, "like 'py312'")
    _check(5 <= c.training_max_runtime_minutes <= 24 * 60, "training_max_runtime_minutes", c.training_max_runtime_minutes, "5..1440")
    _check(bool(re.fullmatch(r"[A-Za-z0-9._-]{1,64}", c.training_data_version)), "training_data_version",
           c.training_data_version, "1-64 of letters, digits, '.', '_', '-'")
    for hk, hv in c.training_hyperparameters.items():
        _check(isinstance(hk, str) and isinstance(hv, (str, int, float)) and not isinstance(hv, bool),
               "training_hyperparameters", {hk: hv}, "a flat object of string keys to numbers or strings")
    _check(0.5 <= c.min_validation_accuracy <= 1.0, "min_validation_accuracy", c.min_validation_accuracy, "0.5..1.0")
    _check(1 <= c.training_volume_size_gb <= 512, "training_volume_size_gb", c.training_volume_size_gb, "1..512 GB")
    _check(0 <= c.deployment_baking_minutes <= 60, "deployment_baking_minutes", c.deployment_baking_minutes,
           "0..60 minutes (SageMaker's blue/green wait interval is at most 3600 s)")
    _check(1 <= c.rollback_5xx_errors_threshold <= 100_000, "rollback_5xx_errors_threshold",
           c.rollback_5xx_errors_threshold, "1..100000 errors per minute")
    _check(1 <= c.rollback_model_latency_ms <= 60_000, "rollback_model_latency_ms", c.rollback_model_latency_ms,
           "1..60000 ms (SageMaker real-time invocations time out after 60 s)")
    _check(1024 <= c.max_image_bytes <= 50 * 1024 * 1024, "max_image_bytes", c.max_image_bytes, "1 KiB..50 MiB")
    _check(1024 <= c.max_image_pixels <= 200_000_000, "max_image_pixels", c.max_image_pixels, "1024..200000000")
    _check(16 <= c.payload_max_side <= 512, "payload_max_side", c.payload_max_side, "16..512 px (keeps the state far below 256 KB)")
    for key in ("serialize_memory_mb", "classify_memory_mb", "filter_memory_mb"):
        _check(128 <= getattr(c, key) <= 10240, key, getattr(c, key), "128..10240 MB")
    _check(1 <= c.execution_timeout_minutes <= 60, "execution_timeout_minutes", c.execution_timeout_minutes, "1..60")
    _check(1 <= c.endpoint_max_attempts <= 10, "endpoint_max_attempts", c.endpoint_max_attempts, "1..10")
    _check(1 <= c.review_queue_retention_days <= 14, "review_queue_retention_days", c.review_queue_retention_days, "1..14 (SQS limit)")
    _check(c.log_retention_days in LOG_RETENTION_DAYS, "log_retention_days", c.log_retention_days, f"one of {LOG_RETENTION_DAYS}")
    _check(c.alarm_email == "" or bool(_EMAIL.match(c.alarm_email)), "alarm_email", c.alarm_email, "'' (no subscription) or an e-mail address")
    _check(0.0 < c.low_confidence_alarm_share <= 1.0, "low_confidence_alarm_share", c.low_confidence_alarm_share, "0 < value <= 1")
    _check(1 <= c.review_queue_max_age_minutes <= 20160, "review_queue_max_age_minutes", c.review_queue_max_age_minutes, "1..20160")
    _check(0.0 < c.drift_psi_alarm_threshold <= 5.0, "drift_psi_alarm_threshold", c.drift_psi_alarm_threshold, "0 < value <= 5")
    _check(1 <= c.drift_window_hours <= 24 * 14, "drift_window_hours", c.drift_window_hours, "1..336")
    _check(1 <= c.model_latency_alarm_ms <= 60_000, "model_latency_alarm_ms", c.model_latency_alarm_ms,
           "1..60000 ms (a real-time endpoint invocation times out after 60 s)")
    _check(1 <= c.low_confidence_min_predictions <= 100_000, "low_confidence_min_predictions",
           c.low_confidence_min_predictions, "1..100000")
    _check(1 <= c.drift_schedule_hours <= min(24, c.drift_window_hours), "drift_schedule_hours", c.drift_schedule_hours,
           f"1..{min(24, c.drift_window_hours)} (at most a day, and no longer than drift_window_hours, so no "
           "captured record goes unchecked)")
    _check(1 <= c.drift_min_records <= 100_000, "drift_min_records", c.drift_min_records, "1..100000")
    _check(bool(re.fullmatch(r"[A-Za-z0-9!_.*'()\-]+(/[A-Za-z0-9!_.*'()\-]+)*", c.drift_baseline_key))
           and c.drift_baseline_key.startswith(c.model_prefix)
           and c.drift_baseline_key.endswith((".json", ".tar.gz")), "drift_baseline_key", c.drift_baseline_key,
           f"an S3 key under model_prefix ({c.model_prefix!r}) ending in '.json' or '.tar.gz', "
           "e.g. 'models/baseline.json'")
    _check(1 <= c.powertools_layer_version <= 1000, "powertools_layer_version", c.powertools_layer_version, "1..1000")
    _check(bool(re.fullmatch(r"[A-Za-z0-9_./#:-]{1,255}", c.metrics_namespace)), "metrics_namespace", c.metrics_namespace,
           "1-255 of letters, digits and _./#:-")
