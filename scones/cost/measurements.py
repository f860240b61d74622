"""The committed, dated local measurement the cost model reads (written by `scones.cost.measure`).

Contract
    `load_measurements(path)` returns a `Measurements`; a missing or malformed file is a
    `MeasurementError` naming the file and what is wrong. Functions are keyed by their template
    `Handler` ("lambdas.serialize.handler.handler"), so a measurement follows a function through renames of
    its logical id. `duration_ms(handler)` is the mean billed duration (each call rounded up to 1 ms,
    as Lambda bills) or None when the handler was not measured: the model then prices the function
    at its timeout and says so.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_MEASUREMENTS = DATA_DIR / "measurements.json"
_REQUIRED = ("measured_on", "what", "machine", "images", "functions", "executions", "capture", "metric_series")


class MeasurementError(ValueError):
    """The measurement file is missing or not what `scones.cost.measure` writes."""


@dataclass(frozen=True)
class Measurements:
    document: dict[str, Any]
    source: str

    @property
    def measured_on(self) -> str:
        return self.document["measured_on"]

    def duration_ms(self, handler: str) -> float | None:
        entry = self.document["functions"].get(handler)
        return float(entry["billed_mean_ms"]) if entry else None

    def aws_calls(self, handler: str) -> dict[str, float]:
        """"service:Operation" -> calls per invocation (e.g. "s3:GetObject": 1.0)."""
        entry = self.document["functions"].get(handler) or {}
        return dict(entry.get("aws_calls_per_invocation", {}))

    def log_bytes(self, handler: str) -> tuple[float, float]:
        """(bytes, lines) the handler logs per invocation (its own logs and EMF; 0 when unmeasured)."""
        entry = self.document["functions"].get(handler) or {}
        return float(entry.get("log_bytes_per_invocation", 0.0)), float(entry.get("log_lines_per_invocation", 0.0))

    def execution(self, outcome: str) -> dict[str, float] | None:
        return self.document["executions"].get(outcome)

    def any_execution(self) -> dict[str, float]:
        """The measured execution with the most history (stands in for an unmeasured outcome)."""
        return max(self.document["executions"].values(), key=lambda e: e["history_bytes_mean"])

    @property
    def capture(self) -> dict[str, float]:
        return self.document["capture"]

    @property
    def model_latency_ms(self) -> float | None:
        latency = self.document.get("model_latency") or {}
        return latency.get("mean_ms")

    @property
    def metric_series(self) -> list[str]:
        return list(self.document["metric_series"])

    def outcome_shares(self) -> dict[str, float]:
        """Routed vs review among the classified images (the model's coverage at the threshold)."""
        counts = self.document["images"]["outcomes"]
        classified = counts.get("routed", 0) + counts.get("review", 0)
        if not classified:
            raise MeasurementError(f"{self.source}: no classified image, so no routed/review share")
        return {"routed": counts.get("routed", 0) / classified, "review": counts.get("review", 0) / classified}


def load_measurements(path: Path | str = DEFAULT_MEASUREMENTS) -> Measurements:
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise MeasurementError(f"measurement file {path} not found; write one with "
                               "`python -m scones.cost.measure`") from None
    except json.JSONDecodeError as exc:
        raise MeasurementError(f"measurement file {path} is not JSON: {exc}") from None
    missing = [key for key in _REQUIRED if key not in document]
    if missing:
        raise MeasurementError(f"measurement file {path} lacks {missing}")
    return Measurements(document=document, source=str(path))
