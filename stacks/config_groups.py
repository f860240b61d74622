"""The groups of the typed config, one frozen dataclass per concern, each validating itself.

Every field is one knob with one definition (its default here, or in `scones_contracts` when a
Lambda, the training or the serving code shares it) and one validation (its group's
`__post_init__`). Each field carries the flat `cdk.json` / `-c` key it is read from
(`knob(key, default)`); error messages name that key and what is allowed.
"""
from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from scones_contracts.decision import DEFAULT_THRESHOLD, THRESHOLD_RANGE, validate_threshold
from scones_contracts.env import ConfigurationError
from scones_contracts.images import (DEFAULT_MAX_IMAGE_BYTES, DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_PAYLOAD_MAX_SIDE,
                                     MAX_IMAGE_BYTES_RANGE, MAX_IMAGE_PIXELS_RANGE, PAYLOAD_MAX_SIDE_RANGE)
from scones_contracts.metrics import DEFAULT_NAMESPACE
from scones_contracts.quarantine import MAX_PREFIX_BYTES

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
_PREFIX = re.compile(r"[A-Za-z0-9!_.*'()\-]+(/[A-Za-z0-9!_.*'()\-]+)*/")
_KEY = re.compile(r"[A-Za-z0-9!_.*'()\-]+(/[A-Za-z0-9!_.*'()\-]+)*")
_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_HYPERPARAMETER = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
# How long EventBridge keeps retrying the delivery of an upload event to the state machine (the
# upload rule's target); delivery claims are kept longer than that (WorkflowSettings).
UPLOAD_EVENT_MAX_AGE_HOURS = 6
# train.py flags the model stack sets from other config keys (one definition per knob).
CONFIG_FLAGS = {"confidence-threshold": "confidence_threshold"}


def knob(key: str, default: Any = MISSING, *, factory: Any = MISSING) -> Any:
    """A config field read from the flat context key `key`."""
    return field(default=default, default_factory=factory, metadata={"key": key})


def key_of(group: type, name: str) -> str:
    """The flat context key of `group`'s field `name`."""
    return next(f.metadata["key"] for f in fields(group) if f.name == name)


class ConfigGroup:
    """What every group shares: checks that name the flat key and the allowed values."""

    def _check(self, name: str, ok: bool, allowed: str) -> None:
        if not ok:
            raise ConfigurationError(
                f"config key '{key_of(type(self), name)}' = {getattr(self, name)!r} is invalid: allowed {allowed}")

    def _range(self, name: str, low: float, high: float, unit: str = "") -> None:
        self._check(name, low <= getattr(self, name) <= high, f"{low}..{high}{unit}")


@dataclass(frozen=True)
class DecisionSettings(ConfigGroup):
    """When a prediction is routed automatically (the rule and its range: `scones_contracts.decision`)."""

    threshold: float = knob("confidence_threshold", DEFAULT_THRESHOLD)

    def __post_init__(self) -> None:
        try:
            valid = bool(validate_threshold(self.threshold))
        except ValueError:
            valid = False
        self._check("threshold", valid, THRESHOLD_RANGE)


@dataclass(frozen=True)
class BucketLayout(ConfigGroup):
    """Where each kind of object lives in the data bucket. Prefixes never overlap: an upload must not
    land where it re-triggers the workflow, and no writer may touch another's objects."""

    incoming_prefix: str = knob("incoming_prefix", "incoming/")
    quarantine_prefix: str = knob("quarantine_prefix", "quarantine/")
    capture_prefix: str = knob("capture_prefix", "datacapture/")
    model_prefix: str = knob("model_prefix", "models/")
    training_data_prefix: str = knob("training_data_prefix", "training-data/")
    training_output_prefix: str = knob("training_output_prefix", "training-output/")
    # Reviewer labels as training examples (scones_contracts.labels): images/ and lists/ under it.
    labels_prefix: str = knob("labels_prefix", "labels/")
    # baseline.json (or a model.tar.gz holding it) of the deployed model: the evaluation gate
    # publishes it here, the drift check reads it.
    baseline_key: str = knob("drift_baseline_key", "models/baseline.json")
    # Photos to classify in bulk without dispatching drivers (a new city's fleet): objects here
    # never start the upload workflow; the batch workflow reads them and the incoming prefix.
    backlog_prefix: str = knob("backlog_prefix", "backlog/")
    # Where each batch execution writes its per-object results and summary.
    batch_results_prefix: str = knob("batch_results_prefix", "batch-results/")

    PREFIXES = ("incoming_prefix", "quarantine_prefix", "capture_prefix", "model_prefix", "training_data_prefix",
                "training_output_prefix", "backlog_prefix", "batch_results_prefix",
                "labels_prefix")

    @property
    def batch_source_prefixes(self) -> tuple[str, ...]:
        """What the batch workflow may read: past uploads and the backlog."""
        return (self.incoming_prefix, self.backlog_prefix)

    def __post_init__(self) -> None:
        for name in self.PREFIXES:
            self._check(name, bool(_PREFIX.fullmatch(getattr(self, name))),
                        "an S3 prefix of safe characters ending in '/', e.g. 'incoming/'")
            # Keys under it (the quarantine folders: scones_contracts.quarantine) must keep room for a name.
            self._check(name, len(getattr(self, name)) <= MAX_PREFIX_BYTES, f"at most {MAX_PREFIX_BYTES} characters")
        for name in self.PREFIXES:
            for other in self.PREFIXES:
                self._check(name, name == other or not getattr(self, name).startswith(getattr(self, other)),
                            f"a prefix that does not overlap '{key_of(BucketLayout, other)}' "
                            f"({getattr(self, other)!r}): an upload must not re-trigger the workflow")
        self._check("baseline_key", bool(_KEY.fullmatch(self.baseline_key))
                    and self.baseline_key.startswith(self.model_prefix)
                    and self.baseline_key.endswith((".json", ".tar.gz")),
                    f"an S3 key under model_prefix ({self.model_prefix!r}) ending in '.json' or '.tar.gz', "
                    "e.g. 'models/baseline.json'")


@dataclass(frozen=True)
class StorageSettings(ConfigGroup):
    """The data bucket's removal policy and lifecycle."""

    removal_policy: str = knob("bucket_removal_policy", "retain")  # "destroy" empties and deletes it on destroy
    capture_transition_days: int = knob("capture_transition_days", 30)
    capture_expiration_days: int = knob("capture_expiration_days", 365)
    quarantine_expiration_days: int = knob("quarantine_expiration_days", 180)
    noncurrent_version_expiration_days: int = knob("noncurrent_version_expiration_days", 30)

    def __post_init__(self) -> None:
        self._check("removal_policy", self.removal_policy in ("retain", "destroy"), "'retain' or 'destroy'")
        self._range("capture_transition_days", 30, 3650,
                    " days (S3 moves objects to Standard-IA after 30 days at the earliest)")
        for name in ("capture_expiration_days", "quarantine_expiration_days", "noncurrent_version_expiration_days"):
            self._range(name, 1, 3650, " days")
        self._check("capture_expiration_days", self.capture_expiration_days > self.capture_transition_days,
                    f"more days than capture_transition_days ({self.capture_transition_days})")


def _instance_type_ok(value: str) -> bool:
    parts = value.split(".")
    return len(parts) == 3 and parts[0] == "ml" and parts[1] in CPU_INSTANCE_FAMILIES + GPU_INSTANCE_FAMILIES


_INSTANCE_TYPES = f"'ml.<family>.<size>' with family in {CPU_INSTANCE_FAMILIES + GPU_INSTANCE_FAMILIES}"


@dataclass(frozen=True)
class EndpointSettings(ConfigGroup):
    """The real-time endpoint: name, CPU instances, autoscaling, data capture."""

    name: str = knob("endpoint_name", "scones-vehicle-classifier")
    instance_type: str = knob("endpoint_instance_type", "ml.m5.large")
    initial_instance_count: int = knob("endpoint_initial_instance_count", 1)
    min_capacity: int = knob("autoscaling_min_capacity", 1)
    max_capacity: int = knob("autoscaling_max_capacity", 4)
    target_invocations_per_instance: int = knob("autoscaling_target_invocations_per_instance", 600)  # per minute
    capture_sampling_percentage: int = knob("data_capture_sampling_percentage", 100)

    @property
    def instance_family(self) -> str:
        return self.instance_type.split(".")[1]

    def __post_init__(self) -> None:
        self._check("name", bool(_NAME.fullmatch(self.name)), "1-63 letters, digits or '-' (SageMaker endpoint naming)")
        self._check("instance_type", _instance_type_ok(self.instance_type), _INSTANCE_TYPES)
        self._check("instance_type", self.instance_family in CPU_INSTANCE_FAMILIES,
                    f"a CPU family {CPU_INSTANCE_FAMILIES}: the endpoint serves the PyTorch CPU image")
        self._range("initial_instance_count", 1, 10)
        self._range("min_capacity", 1, 10)
        self._check("max_capacity", self.min_capacity <= self.max_capacity <= 20,
                    f"autoscaling_min_capacity ({self.min_capacity})..20")
        self._check("initial_instance_count", self.min_capacity <= self.initial_instance_count <= self.max_capacity,
                    "within the autoscaling bounds")
        self._range("target_invocations_per_instance", 1, 100_000, " per minute")
        self._range("capture_sampling_percentage", 0, 100)


@dataclass(frozen=True)
class RolloutSettings(ConfigGroup):
    """Blue/green endpoint updates (all at once): how long the new fleet takes all traffic while the
    rollback alarms watch it before the old fleet is terminated, and what trips a rollback."""

    baking_minutes: int = knob("deployment_baking_minutes", 10)
    rollback_5xx_errors: int = knob("rollback_5xx_errors_threshold", 1)  # Invocation5XXErrors per minute
    rollback_model_latency_ms: int = knob("rollback_model_latency_ms", 500)  # p99 (the alarm converts to µs)

    def __post_init__(self) -> None:
        self._range("baking_minutes", 0, 60, " minutes (SageMaker's blue/green wait interval is at most 3600 s)")
        self._range("rollback_5xx_errors", 1, 100_000, " errors per minute")
        self._range("rollback_model_latency_ms", 1, 60_000,
                    " ms (SageMaker real-time invocations time out after 60 s)")


@dataclass(frozen=True)
class FrameworkSettings(ConfigGroup):
    """The SageMaker PyTorch framework images (training and inference) the model runs in."""

    pytorch_version: str = knob("pytorch_inference_version", "2.6.0")
    py_version: str = knob("pytorch_py_version", "py312")

    def __post_init__(self) -> None:
        self._check("pytorch_version", bool(re.fullmatch(r"\d+\.\d+(\.\d+)?", self.pytorch_version)),
                    "a version like '2.6.0'")
        self._check("py_version", bool(re.fullmatch(r"py3\d+", self.py_version)), "like 'py312'")


@dataclass(frozen=True)
class TrainingSettings(ConfigGroup):
    """The training job that runs on deploy, and the evaluation gate after it."""

    instance_type: str = knob("training_instance_type", "ml.m5.xlarge")
    max_runtime_minutes: int = knob("training_max_runtime_minutes", 60)
    data_version: str = knob("training_data_version", "cifar100-v1")
    # train.py flags without the dashes: `batch_size` and `batch-size` both mean --batch-size.
    hyperparameters: dict = knob("training_hyperparameters", factory=lambda: {"seed": 7})
    min_validation_accuracy: float = knob("min_validation_accuracy", 0.88)
    volume_size_gb: int = knob("training_volume_size_gb", 30)

    def __post_init__(self) -> None:
        self._check("instance_type", _instance_type_ok(self.instance_type), _INSTANCE_TYPES)
        self._range("max_runtime_minutes", 5, 24 * 60)
        self._check("data_version", bool(re.fullmatch(r"[A-Za-z0-9._-]{1,64}", self.data_version)),
                    "1-64 of letters, digits, '.', '_', '-'")
        self.flags()  # validates the names
        self._range("min_validation_accuracy", 0.5, 1.0)
        self._range("volume_size_gb", 1, 512, " GB")

    def flags(self) -> dict[str, str | int | float]:
        """The hyperparameters as train.py flags (without the dashes), sorted by name."""
        result: dict[str, str | int | float] = {}
        for key, value in sorted(self.hyperparameters.items()):
            self._check("hyperparameters", isinstance(key, str) and isinstance(value, (str, int, float))
                        and not isinstance(value, bool), "a flat object of string keys to numbers or strings")
            flag = key.strip().lstrip("-").replace("_", "-")
            self._check("hyperparameters", bool(_HYPERPARAMETER.fullmatch(flag)),
                        f"train.py flags without the dashes, e.g. 'epochs', 'batch-size' or 'batch_size' (not {key!r})")
            self._check("hyperparameters", not flag.startswith("sagemaker-"),
                        f"names other than 'sagemaker_*' ({key!r}): those are reserved for the SageMaker training toolkit")
            self._check("hyperparameters", flag not in CONFIG_FLAGS,
                        f"names other than {key!r}: --{flag} is set from the config key '{CONFIG_FLAGS.get(flag)}'")
            self._check("hyperparameters", flag not in result, f"each flag once ({key!r} names --{flag} twice)")
            result[flag] = value
        return result


@dataclass(frozen=True)
class ImageLimits(ConfigGroup):
    """What the serialize function accepts and what it passes on (`scones_contracts.images`)."""

    max_bytes: int = knob("max_image_bytes", DEFAULT_MAX_IMAGE_BYTES)
    max_pixels: int = knob("max_image_pixels", DEFAULT_MAX_IMAGE_PIXELS)
    payload_max_side: int = knob("payload_max_side", DEFAULT_PAYLOAD_MAX_SIDE)

    def __post_init__(self) -> None:
        self._range("max_bytes", *MAX_IMAGE_BYTES_RANGE, " bytes")
        self._range("max_pixels", *MAX_IMAGE_PIXELS_RANGE, " pixels")
        self._range("payload_max_side", *PAYLOAD_MAX_SIDE_RANGE, " px (keeps the state far below 256 KB)")


@dataclass(frozen=True)
class FunctionSettings(ConfigGroup):
    """The product Lambdas: memory and the official Powertools layer version they run with."""

    serialize_memory_mb: int = knob("serialize_memory_mb", 1024)
    classify_memory_mb: int = knob("classify_memory_mb", 256)
    check_confidence_memory_mb: int = knob("check_confidence_memory_mb", 256)
    # open_review, expire_review and the review API
    review_memory_mb: int = knob("review_memory_mb", 256)
    # Powertools for AWS Lambda (Python) v3 layer (publisher account 017000801446); locally and in
    # tests the pip package pinned in pyproject.toml is used instead.
    powertools_layer_version: int = knob("powertools_layer_version", 27)

    def __post_init__(self) -> None:
        for name in ("serialize_memory_mb", "classify_memory_mb", "check_confidence_memory_mb", "review_memory_mb"):
            self._range(name, 128, 10240, " MB")
        self._range("powertools_layer_version", 1, 1000)


@dataclass(frozen=True)
class WorkflowSettings(ConfigGroup):
    """The image-routing state machine. Its timeout is the human-review wait (`review_timeout_hours`)
    plus `processing_timeout_minutes` for everything else (`SconesConfig.execution_timeout_seconds`)."""

    processing_timeout_minutes: int = knob("processing_timeout_minutes", 15)
    endpoint_max_attempts: int = knob("endpoint_max_attempts", 4)  # classify attempts on throttling / 5xx
    # A claim must outlive every redelivery of its upload event: EventBridge retries for at most
    # the upload rule's maximum event age, and the claiming execution may still be running then.
    delivery_claim_ttl_hours: int = knob("delivery_claim_ttl_hours", 24)

    def __post_init__(self) -> None:
        self._range("processing_timeout_minutes", 1, 60)
        self._range("endpoint_max_attempts", 1, 10)
        self._range("delivery_claim_ttl_hours", UPLOAD_EVENT_MAX_AGE_HOURS + 1, 8760,
                    f" hours (at least the upload rule's maximum event age, {UPLOAD_EVENT_MAX_AGE_HOURS} h, plus "
                    "the longest execution)")


@dataclass(frozen=True)
class LogSettings(ConfigGroup):
    """Every log group of the product."""

    retention_days: int = knob("log_retention_days", 30)

    @property
    def retention_name(self) -> str:
        """The aws_logs.RetentionDays member."""
        return LOG_RETENTION_NAMES[self.retention_days]

    def __post_init__(self) -> None:
        self._check("retention_days", self.retention_days in LOG_RETENTION_NAMES, f"one of {tuple(LOG_RETENTION_NAMES)}")


@dataclass(frozen=True)
class MonitoringSettings(ConfigGroup):
    """Alarms and the namespace of the product's own metrics."""

    alarm_email: str = knob("alarm_email", "")
    metrics_namespace: str = knob("metrics_namespace", DEFAULT_NAMESPACE)
    low_confidence_alarm_share: float = knob("low_confidence_alarm_share", 0.3)
    # below this many predictions an hour the share is not judged
    low_confidence_min_predictions: int = knob("low_confidence_min_predictions", 20)
    # p90 SageMaker ModelLatency alarm threshold (the metric itself is in µs)
    model_latency_alarm_ms: int = knob("model_latency_alarm_ms", 500)

    def __post_init__(self) -> None:
        self._check("alarm_email", self.alarm_email == "" or bool(_EMAIL.fullmatch(self.alarm_email)),
                    "'' (no subscription) or an e-mail address")
        self._check("metrics_namespace", bool(re.fullmatch(r"[A-Za-z0-9_./#:-]{1,255}", self.metrics_namespace)),
                    "1-255 of letters, digits and _./#:-")
        self._check("low_confidence_alarm_share", 0.0 < self.low_confidence_alarm_share <= 1.0, "0 < value <= 1")
        self._range("low_confidence_min_predictions", 1, 100_000)
        self._range("model_latency_alarm_ms", 1, 60_000, " ms (a real-time endpoint invocation times out after 60 s)")


@dataclass(frozen=True)
class DriftSettings(ConfigGroup):
    """The scheduled drift check of captured traffic against the training baseline."""

    psi_alarm_threshold: float = knob("drift_psi_alarm_threshold", 0.2)
    window_hours: int = knob("drift_window_hours", 24)
    schedule_hours: int = knob("drift_schedule_hours", 1)  # runs at this rate over the last window_hours
    min_records: int = knob("drift_min_records", 30)  # fewer valid records in the window: the PSI alarm stays quiet

    def __post_init__(self) -> None:
        self._check("psi_alarm_threshold", 0.0 < self.psi_alarm_threshold <= 5.0, "0 < value <= 5")
        self._range("window_hours", 1, 24 * 14)
        high = min(24, self.window_hours)
        self._check("schedule_hours", 1 <= self.schedule_hours <= high,
                    f"1..{high} (at most a day, and no longer than drift_window_hours, so no captured record "
                    "goes unchecked)")
        self._range("min_records", 1, 100_000)
