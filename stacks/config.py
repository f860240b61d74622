"""The one typed configuration object of the app, read from `cdk.json` context.

`SconesConfig` groups the knobs by concern (`config_groups`: decision, bucket layout, storage,
endpoint, rollout, framework, training, images, functions, workflow, logs, monitoring, drift;
`config_review`: review, reviewers; `config_batch`: batch); each group validates itself. The context keys stay flat: `cdk.json` holds a
`"scones": {...}` block of flat keys that overrides the defaults, and `cdk synth -c key=value`
(or `scones -c key=value ...`) overrides both; CLI values arrive as strings and are parsed to the
field's type. A bad value fails synth with a message naming the key and what is allowed. The
README's configuration table maps each key to its field.

Everything that is not the CDK app (the `scones` CLI, the local runtime) reads the same config
with `load_config`, which applies cdk.json as the CDK CLI does. No CDK import here, so the
CLI's quick commands stay quick.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Mapping, get_type_hints

from scones_contracts.env import ConfigurationError

from .config_groups import (LOG_RETENTION_NAMES, BucketLayout, DecisionSettings, DriftSettings, EndpointSettings,
                            FrameworkSettings, FunctionSettings, ImageLimits, LogSettings, MonitoringSettings,
                            RolloutSettings, StorageSettings, TrainingSettings, WorkflowSettings, knob)
from .config_batch import BatchSettings
from .config_review import ReviewerAccessSettings, ReviewSettings

__all__ = ["CDK_JSON", "CONTEXT_KEY", "ConfigurationError", "LOG_RETENTION_NAMES", "SconesConfig", "config_keys",
           "load_config"]

CONTEXT_KEY = "scones"
CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


@dataclass(frozen=True)
class SconesConfig:
    """Everything a deployment can tune, one group per concern."""

    project_name: str = knob("project_name", "scones")
    decision: DecisionSettings = field(default_factory=DecisionSettings)
    bucket: BucketLayout = field(default_factory=BucketLayout)
    storage: StorageSettings = field(default_factory=StorageSettings)
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    rollout: RolloutSettings = field(default_factory=RolloutSettings)
    framework: FrameworkSettings = field(default_factory=FrameworkSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    images: ImageLimits = field(default_factory=ImageLimits)
    functions: FunctionSettings = field(default_factory=FunctionSettings)
    workflow: WorkflowSettings = field(default_factory=WorkflowSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)
    reviewers: ReviewerAccessSettings = field(default_factory=ReviewerAccessSettings)
    logs: LogSettings = field(default_factory=LogSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    drift: DriftSettings = field(default_factory=DriftSettings)
    batch: BatchSettings = field(default_factory=BatchSettings)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9-]{1,20}", self.project_name):
            raise ConfigurationError(f"config key 'project_name' = {self.project_name!r} is invalid: allowed "
                                     "2-21 lowercase letters, digits or '-', starting with a letter")

    @property
    def execution_timeout_seconds(self) -> int:
        """The state machine's timeout: the longest wait for a reviewer plus the processing around it."""
        return self.review.timeout_seconds + self.workflow.processing_timeout_minutes * 60

    def resource_name(self, suffix: str) -> str:
        """A stable physical name for resources that need one (queues, buses, state machines)."""
        return f"{self.project_name}-{suffix}"

    # ---------------------------------------------------------------- flat keys <-> groups
    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "SconesConfig":
        """Build from flat context keys whose values may be strings (as `-c key=value` gives them)."""
        keys = config_keys()
        unknown = sorted(set(values) - set(keys))
        if unknown:
            raise ConfigurationError(f"unknown config key(s) {unknown}; known keys: {sorted(keys)}")
        grouped: dict[str | None, dict[str, Any]] = {}
        for key, value in values.items():
            group, name, typ = keys[key]
            grouped.setdefault(group, {})[name] = _coerce(key, value, typ)
        top = grouped.pop(None, {})
        groups = {attribute: group(**grouped.get(attribute, {})) for attribute, group in _groups()}
        return cls(**top, **groups)

    def to_mapping(self) -> dict[str, Any]:
        """The flat context keys and their values (what `from_mapping` reads back)."""
        result = {}
        for key, (group, name, _) in config_keys().items():
            result[key] = getattr(getattr(self, group) if group else self, name)
        return result

    def with_overrides(self, **values: Any) -> "SconesConfig":
        """A copy with some flat keys changed (validated like any other value)."""
        return SconesConfig.from_mapping({**self.to_mapping(), **values})

    @classmethod
    def from_context(cls, scope) -> "SconesConfig":
        """Defaults <- the context's "scones" block <- individual `-c key=value` overrides (a CDK scope)."""
        block = scope.node.try_get_context(CONTEXT_KEY) or {}
        if isinstance(block, str):
            block = json.loads(block)
        if not isinstance(block, dict):
            raise ConfigurationError(f"context '{CONTEXT_KEY}' must be an object, got {type(block).__name__}")
        values = dict(block)
        for key in config_keys():
            override = scope.node.try_get_context(key)
            if override is not None:
                values[key] = override
        return cls.from_mapping(values)


def load_config(overrides: Mapping[str, Any] | None = None, cdk_json: Path = CDK_JSON) -> SconesConfig:
    """The app's config outside a CDK app, as `cdk synth` builds it: defaults <- cdk.json's context
    ("scones" block, then flat keys) <- `overrides` (the `-c key=value` pairs)."""
    context = json.loads(Path(cdk_json).read_text()).get("context", {})
    block = context.get(CONTEXT_KEY) or {}
    if not isinstance(block, dict):
        raise ConfigurationError(f"{cdk_json}: context '{CONTEXT_KEY}' must be an object")
    keys = config_keys()
    values = {**block, **{k: v for k, v in context.items() if k in keys}, **(overrides or {})}
    return SconesConfig.from_mapping(values)


def parse_context_pairs(pairs: list[str]) -> dict[str, str]:
    """`["key=value", ...]` (as `cdk -c` takes them) -> {key: value}; raises ConfigurationError on a bad pair."""
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"-c expects key=value, got {pair!r}")
        result[key.strip()] = value
    return result


def _groups() -> list[tuple[str, type]]:
    """(attribute, group class) of every group of SconesConfig."""
    hints = get_type_hints(SconesConfig)
    return [(f.name, hints[f.name]) for f in fields(SconesConfig) if is_dataclass(hints[f.name])]


def config_keys() -> dict[str, tuple[str | None, str, type]]:
    """Every flat context key -> (group attribute or None for top level, field name, field type)."""
    keys: dict[str, tuple[str | None, str, type]] = {}
    hints = get_type_hints(SconesConfig)
    for f in fields(SconesConfig):
        if "key" in f.metadata:
            keys[f.metadata["key"]] = (None, f.name, hints[f.name])
    for attribute, group in _groups():
        group_hints = get_type_hints(group)
        for f in fields(group):
            keys[f.metadata["key"]] = (attribute, f.name, group_hints[f.name])
    return keys


def _coerce(key: str, value: Any, typ: Any) -> Any:
    """Parse CLI strings into the field's type; reject values of the wrong type by name."""
    try:
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
        raise ConfigurationError(f"config key '{key}': expected {getattr(typ, '__name__', typ)}, got {value!r}") from None
    return value
