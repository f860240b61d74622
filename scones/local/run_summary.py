"""The summary line of a local run: counts per outcome, throughput, latency percentiles, time per step."""
from __future__ import annotations

from typing import Any

from scones_contracts.events import OUTCOMES

from .runtime import Outcome


def summarize(outcomes: list[Outcome], wall_seconds: float) -> dict[str, Any]:
    """Counts, throughput and latency percentiles, and where the time went."""
    counts = {name: 0 for name in OUTCOMES}
    for outcome in outcomes:
        counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
    latencies = sorted(o.latency_ms for o in outcomes if o.latency_ms is not None)
    steps: dict[str, list[float]] = {}
    for outcome in outcomes:
        for step, ms in outcome.steps_ms.items():
            steps.setdefault(step, []).append(ms)
    return {
        "summary": True,
        "images": len(outcomes),
        "counts": counts,
        "wall_seconds": round(wall_seconds, 2),
        "throughput_images_per_s": round(len(outcomes) / wall_seconds, 2) if wall_seconds > 0 else None,
        "latency_ms": {"p50": percentile(latencies, 50), "p90": percentile(latencies, 90),
                       "p99": percentile(latencies, 99), "max": latencies[-1] if latencies else None},
        "step_ms_mean": {k: round(sum(v) / len(v), 2) for k, v in steps.items() if v},
    }


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]
