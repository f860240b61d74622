"""The drift check's settings, from the environment the monitoring stack sets.

    CAPTURE_BUCKET               bucket holding the capture
    CAPTURE_PREFIX               `<capture_prefix><endpoint>/` (scones_contracts.capture)
    BASELINE_S3_URI              `s3://bucket/key` of `baseline.json` or of a `model.tar.gz` holding it
    WINDOW_HOURS                 look-back window in hours
    THRESHOLD                    the routing threshold: low confidence is judged as routing judges it
    ENDPOINT_NAME                the `EndpointName` metric dimension
    CLASS_NAMES                  class names in the model's output order
    POWERTOOLS_METRICS_NAMESPACE CloudWatch namespace of the drift metrics (the workflow functions' too)
    PSI_THRESHOLD, MIN_RECORDS   drift flag thresholds
    CLASS_MIX_THRESHOLD, LOW_CONFIDENCE_DELTA_THRESHOLD   optional (defaults: statistics.DriftThresholds)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from scones_contracts.classes import CLASS_NAMES
from scones_contracts.env import ConfigurationError, Environment
from scones_contracts.s3_uri import parse_s3_uri

from .statistics import DriftThresholds


@dataclass(frozen=True)
class DriftConfig:
    capture_bucket: str
    capture_prefix: str
    baseline_uri: str | None  # None: the capture is summarised, drift is not computed
    window_hours: float
    threshold: float
    namespace: str
    endpoint_name: str
    class_names: tuple[str, ...] = CLASS_NAMES
    thresholds: DriftThresholds = field(default_factory=DriftThresholds)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DriftConfig:
        read = Environment(env)
        defaults = DriftThresholds()
        baseline_uri = read.text("BASELINE_S3_URI")
        try:
            parse_s3_uri(baseline_uri)
        except ValueError as err:
            raise ConfigurationError(f"BASELINE_S3_URI: {err}") from None
        return cls(
            capture_bucket=read.text("CAPTURE_BUCKET"),
            capture_prefix=read.text("CAPTURE_PREFIX").lstrip("/"),
            baseline_uri=baseline_uri,
            window_hours=read.number("WINDOW_HOURS", positive=True),
            threshold=read.threshold("THRESHOLD"),
            namespace=read.text("POWERTOOLS_METRICS_NAMESPACE"),
            endpoint_name=read.text("ENDPOINT_NAME"),
            class_names=read.class_names("CLASS_NAMES"),
            thresholds=DriftThresholds(
                psi=read.number("PSI_THRESHOLD", positive=True),
                class_mix_tvd=read.number("CLASS_MIX_THRESHOLD", defaults.class_mix_tvd, positive=True),
                low_confidence_delta=read.number("LOW_CONFIDENCE_DELTA_THRESHOLD", defaults.low_confidence_delta,
                                                 positive=True),
                min_records=read.integer("MIN_RECORDS", minimum=1),
            ),
        )
