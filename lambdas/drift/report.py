"""A capture summary and its drift against the training baseline: the one report of the drift
check and of `scones capture-report` (standard library only).

* Summary: counts, class shares, mean confidence, low-confidence share (top probability not
  confident at the report's threshold, `scones_contracts.decision.is_confident`), per-hour series.
* Drift (statistics.py for the formulas): confidence PSI, class-mix TVD (and PSI over the classes),
  and the rise of the low-confidence share (current - baseline, both at the report's threshold).

Drift is only *flagged* when at least `min_records` valid records were seen; below that the
statistics are still reported, with `sufficient_sample: false` and the reasons that would have
fired listed under `suppressed_reasons`.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from scones_contracts.baseline import Baseline, BaselineError
from scones_contracts.classes import CLASS_NAMES
from scones_contracts.decision import DEFAULT_THRESHOLD, is_confident

from .capture import BadRecord, CaptureRecord
from .statistics import DriftThresholds, bin_edges, histogram, psi, total_variation

MAX_BAD_EXAMPLES = 5


def _hour_key(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:00:00Z")


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _shares(counts: Mapping[str, int], names: Sequence[str]) -> dict[str, float]:
    total = sum(counts[n] for n in names)
    return {n: (counts[n] / total if total else 0.0) for n in names}


def summarize(records: Sequence[CaptureRecord], bad: Sequence[BadRecord] = (), *,
              threshold: float = DEFAULT_THRESHOLD, class_names: Sequence[str] = CLASS_NAMES,
              max_bad_examples: int = MAX_BAD_EXAMPLES) -> dict[str, Any]:
    """Counts, confidence and a per-hour series for a set of parsed capture records."""
    names = list(class_names)
    counts = {n: 0 for n in names}
    hours: dict[str, dict[str, Any]] = {}
    confidences: list[float] = []
    low = 0
    for record in records:
        label = names[record.predicted_index]
        top = record.top_confidence
        is_low = not is_confident(top, threshold)
        counts[label] += 1
        confidences.append(top)
        low += is_low
        bucket = hours.setdefault(_hour_key(record.inference_time),
                                  {"records": 0, "class_counts": {n: 0 for n in names}, "low": 0, "conf": 0.0})
        bucket["records"] += 1
        bucket["class_counts"][label] += 1
        bucket["low"] += is_low
        bucket["conf"] += top
    n = len(confidences)
    series = []
    for hour in sorted(hours):
        bucket = hours[hour]
        series.append({
            "hour": hour,
            "records": bucket["records"],
            "class_counts": bucket["class_counts"],
            "class_shares": _shares(bucket["class_counts"], names),
            "mean_confidence": bucket["conf"] / bucket["records"],
            "low_confidence_share": bucket["low"] / bucket["records"],
        })
    times = [r.inference_time for r in records]
    return {
        "records": n,
        "bad_records": len(bad),
        "bad_record_examples": [b.to_dict() for b in list(bad)[:max_bad_examples]],
        "class_names": names,
        "class_counts": counts,
        "class_shares": _shares(counts, names),
        "mean_confidence": (sum(confidences) / n) if n else None,
        "threshold": threshold,
        "low_confidence_records": low,
        "low_confidence_share": (low / n) if n else None,
        "first_inference_time": _iso(min(times)) if times else None,
        "last_inference_time": _iso(max(times)) if times else None,
        "hourly": series,
    }


def baseline_figures(baseline: Baseline, threshold: float) -> dict[str, Any]:
    conf = baseline.top_confidence
    n = len(conf)
    return {
        "source": baseline.source,
        "records": n,
        "threshold": baseline.threshold,
        "class_counts": dict(baseline.class_counts),
        "class_shares": _shares(baseline.class_counts, baseline.class_names),
        "mean_confidence": sum(conf) / n,
        "low_confidence_share": sum(1 for c in conf if not is_confident(c, threshold)) / n,
    }


def compute_drift(records: Sequence[CaptureRecord], baseline: Baseline | None, *,
                  threshold: float | None = None, class_names: Sequence[str] | None = None,
                  thresholds: DriftThresholds = DriftThresholds()) -> dict[str, Any]:
    """Compare captured records with the baseline; see the module docstring for the statistics."""
    if baseline is None:
        return {"computed": False, "reason": "no baseline given"}
    names = list(class_names or baseline.class_names)
    if names != list(baseline.class_names):
        raise BaselineError(f"baseline class_names {list(baseline.class_names)} differ from the report's {names}")
    threshold = baseline.threshold if threshold is None else threshold
    n = len(records)
    base = baseline_figures(baseline, threshold)
    if n == 0:
        return {"computed": False, "reason": "no valid capture records", "sample_size": 0,
                "min_records": thresholds.min_records, "baseline": base}

    tops = [r.top_confidence for r in records]
    edges = bin_edges(thresholds.n_bins)
    base_hist = histogram(baseline.top_confidence, thresholds.n_bins)
    cur_hist = histogram(tops, thresholds.n_bins)
    confidence_psi = psi(base_hist, cur_hist, thresholds.epsilon)

    cur_counts = {name: 0 for name in names}
    for record in records:
        cur_counts[names[record.predicted_index]] += 1
    base_shares = [baseline.class_counts[name] / len(baseline.predicted) for name in names]
    cur_shares = [cur_counts[name] / n for name in names]
    tvd = total_variation(base_shares, cur_shares)
    class_psi = psi([baseline.class_counts[name] for name in names], [cur_counts[name] for name in names],
                    thresholds.epsilon)

    cur_low = sum(1 for t in tops if not is_confident(t, threshold)) / n
    low_delta = cur_low - base["low_confidence_share"]
    cur_mean = sum(tops) / n

    reasons = []
    if confidence_psi > thresholds.psi:
        reasons.append(f"confidence PSI {confidence_psi:.3f} > {thresholds.psi}")
    if tvd > thresholds.class_mix_tvd:
        reasons.append(f"class-mix shift (TVD) {tvd:.3f} > {thresholds.class_mix_tvd}")
    if low_delta > thresholds.low_confidence_delta:
        reasons.append(f"low-confidence share rose by {low_delta:.3f} "
                       f"({base['low_confidence_share']:.3f} -> {cur_low:.3f}) > {thresholds.low_confidence_delta}")
    sufficient = n >= thresholds.min_records
    result: dict[str, Any] = {
        "computed": True,
        "drift_detected": bool(reasons) and sufficient,
        "reasons": reasons if sufficient else [],
        "sample_size": n,
        "min_records": thresholds.min_records,
        "sufficient_sample": sufficient,
        "thresholds": {**thresholds.to_dict(), "low_confidence_threshold": threshold},
        "confidence_psi": confidence_psi,
        "confidence_bins": {
            "edges": edges,
            "baseline_counts": base_hist,
            "current_counts": cur_hist,
            "baseline_shares": [c / len(baseline.top_confidence) for c in base_hist],
            "current_shares": [c / n for c in cur_hist],
        },
        "class_mix": {
            "tvd": tvd,
            "psi": class_psi,
            "baseline_shares": dict(zip(names, base_shares)),
            "current_shares": dict(zip(names, cur_shares)),
        },
        "low_confidence_share": {"baseline": base["low_confidence_share"], "current": cur_low, "delta": low_delta},
        "mean_confidence": {"baseline": base["mean_confidence"], "current": cur_mean,
                            "delta": cur_mean - base["mean_confidence"]},
        "baseline": base,
    }
    if not sufficient:
        result["suppressed_reasons"] = reasons
        result["note"] = (f"only {n} valid records (< min_records {thresholds.min_records}): "
                          "statistics reported, drift not flagged")
    return result


def build_report(records: Sequence[CaptureRecord], bad: Sequence[BadRecord] = (),
                 baseline: Baseline | None = None, *, threshold: float | None = None,
                 class_names: Sequence[str] | None = None,
                 thresholds: DriftThresholds = DriftThresholds(),
                 max_bad_examples: int = MAX_BAD_EXAMPLES) -> dict[str, Any]:
    """Summary + ``drift`` in one JSON-serialisable dict (the CLI's and the Lambda's report).

    The low-confidence threshold defaults to the baseline's, else 0.93; class names default to the
    baseline's, else bicycle/motorcycle.
    """
    if threshold is None:
        threshold = baseline.threshold if baseline is not None else DEFAULT_THRESHOLD
    if class_names is None:
        class_names = baseline.class_names if baseline is not None else CLASS_NAMES
    report = summarize(records, bad, threshold=threshold, class_names=class_names,
                       max_bad_examples=max_bad_examples)
    report["drift"] = compute_drift(records, baseline, threshold=threshold, class_names=class_names,
                                    thresholds=thresholds)
    return report
