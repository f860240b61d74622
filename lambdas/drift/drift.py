"""Capture summaries, the training baseline and drift statistics (standard library only).

Statistics
----------
* **Confidence PSI** - population stability index of the *top-class probability* between the
  baseline (validation predictions at training time) and the captured traffic::

      PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

  over ``n_bins`` equal-width bins on ``[0.5, 1.0]`` (the top probability of a 2-class softmax is
  never below 0.5; values outside the range are clamped into the first/last bin). ``e_i``/``a_i`` are
  the baseline/current shares of each bin; an empty bin's share is replaced by ``epsilon``
  (default 1e-4, shares are not renormalised) so the logarithm stays finite. Rule of thumb:
  < 0.1 stable, 0.1-0.2 moderate, > 0.2 significant shift (default flag threshold).
* **Class-mix shift** - total variation distance between the predicted-class shares,
  ``TVD = 0.5 * sum_c |p_c - q_c|`` (0 = same mix, 1 = disjoint); flagged above 0.15 by default.
  The PSI over the classes (same epsilon rule) is reported alongside.
* **Low-confidence share** - share of predictions whose top probability is below the threshold;
  the delta (current - baseline, both at the report's threshold) is flagged above 0.15 by default.

Drift is only *flagged* when at least ``min_records`` (default 30) valid records were seen; below
that the statistics are still reported, with ``sufficient_sample: false`` and the reasons that
would have fired listed under ``suppressed_reasons``.
"""
from __future__ import annotations

import io
import json
import math
import os
import tarfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

from .capture import DEFAULT_CLASS_NAMES, BadRecord, CaptureRecord

DEFAULT_THRESHOLD = 0.93
DEFAULT_BINS = 10
CONFIDENCE_RANGE = (0.5, 1.0)
DEFAULT_EPSILON = 1e-4
MAX_BAD_EXAMPLES = 5
BASELINE_MEMBER = "baseline.json"


class BaselineError(ValueError):
    """The baseline file is missing, unreadable or does not follow the schema."""


# --------------------------------------------------------------------------- baseline


@dataclass(frozen=True)
class Baseline:
    """The training-time reference: validation top confidences and predicted classes."""

    threshold: float
    class_names: tuple[str, ...]
    top_confidence: tuple[float, ...]
    predicted: tuple[str, ...]
    class_counts: dict[str, int]
    source: str = "validation"
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "source": self.source,
            "threshold": self.threshold,
            "class_names": list(self.class_names),
            "top_confidence": list(self.top_confidence),
            "predicted": list(self.predicted),
            "class_counts": dict(self.class_counts),
        }


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def baseline_from_dict(data: Any, origin: str = "baseline") -> Baseline:
    """Validate the baseline schema; raise :class:`BaselineError` naming the first problem."""

    def fail(message: str) -> BaselineError:
        return BaselineError(f"{origin}: {message}")

    if not isinstance(data, dict):
        raise fail("top level must be a JSON object")
    required = ("version", "source", "threshold", "class_names", "top_confidence", "predicted", "class_counts")
    missing = [key for key in required if key not in data]
    if missing:
        raise fail(f"missing key(s) {', '.join(missing)}")
    if data["version"] != 1 or isinstance(data["version"], bool):
        raise fail(f"unsupported version {data['version']!r} (expected 1)")
    if not isinstance(data["source"], str):
        raise fail("source must be a string")
    threshold = data["threshold"]
    if not _is_number(threshold) or not 0 < threshold < 1:
        raise fail(f"threshold must be a number in (0, 1), got {threshold!r}")
    names = data["class_names"]
    if (not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) and n for n in names)
            or len(set(names)) != len(names)):
        raise fail("class_names must be a list of at least 2 distinct non-empty strings")
    conf = data["top_confidence"]
    if not isinstance(conf, list) or not conf:
        raise fail("top_confidence must be a non-empty list of numbers")
    for i, value in enumerate(conf):
        if not _is_number(value) or not 0 <= value <= 1:
            raise fail(f"top_confidence[{i}] = {value!r} is not a probability in [0, 1]")
    predicted = data["predicted"]
    if not isinstance(predicted, list) or len(predicted) != len(conf):
        raise fail(f"predicted must be a list as long as top_confidence ({len(conf)})")
    for i, label in enumerate(predicted):
        if label not in names:
            raise fail(f"predicted[{i}] = {label!r} is not one of class_names {names}")
    counts = data["class_counts"]
    if not isinstance(counts, dict) or set(counts) != set(names):
        raise fail(f"class_counts must have exactly the keys {names}")
    for name in names:
        if not isinstance(counts[name], int) or isinstance(counts[name], bool) or counts[name] < 0:
            raise fail(f"class_counts[{name!r}] must be a non-negative integer")
        actual = predicted.count(name)
        if counts[name] != actual:
            raise fail(f"class_counts[{name!r}] = {counts[name]} but predicted holds {actual}")
    return Baseline(
        threshold=float(threshold),
        class_names=tuple(names),
        top_confidence=tuple(float(v) for v in conf),
        predicted=tuple(predicted),
        class_counts={name: int(counts[name]) for name in names},
        source=data["source"],
        version=1,
    )


def baseline_from_bytes(blob: bytes, origin: str = "baseline") -> Baseline:
    """Baseline JSON, or a (gzipped) tar such as ``model.tar.gz`` holding ``baseline.json`` at its root."""
    if blob[:2] == b"\x1f\x8b" or _looks_like_tar(blob):
        try:
            with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as archive:
                member = _find_baseline_member(archive)
                if member is None:
                    raise BaselineError(f"{origin}: archive has no {BASELINE_MEMBER} at its root")
                handle = archive.extractfile(member)
                if handle is None:
                    raise BaselineError(f"{origin}: {BASELINE_MEMBER} in the archive is not a regular file")
                blob = handle.read()
                origin = f"{origin}!{BASELINE_MEMBER}"
        except (tarfile.TarError, EOFError, OSError) as err:
            raise BaselineError(f"{origin}: not a readable tar archive ({err})") from None
    try:
        data = json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BaselineError(f"{origin}: not valid JSON ({err})") from None
    return baseline_from_dict(data, origin)


def _looks_like_tar(blob: bytes) -> bool:
    return len(blob) > 262 and blob[257:262] == b"ustar"


def _find_baseline_member(archive: tarfile.TarFile) -> tarfile.TarInfo | None:
    for member in archive:  # streams: stops at baseline.json without scanning the weights behind it
        name = member.name
        while name.startswith("./"):
            name = name[2:]
        if name == BASELINE_MEMBER:
            return member
    return None


def load_baseline(path: str | os.PathLike[str]) -> Baseline:
    """Read a baseline from ``baseline.json`` or a ``model.tar.gz`` containing it."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            blob = handle.read()
    except OSError as err:
        raise BaselineError(f"{path}: cannot read baseline ({err.strerror or err})") from None
    return baseline_from_bytes(blob, origin=path)


# --------------------------------------------------------------------------- summary


def _hour_key(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:00:00Z")


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _shares(counts: Mapping[str, int], names: Sequence[str]) -> dict[str, float]:
    total = sum(counts[n] for n in names)
    return {n: (counts[n] / total if total else 0.0) for n in names}


def summarize(records: Sequence[CaptureRecord], bad: Sequence[BadRecord] = (), *,
              threshold: float = DEFAULT_THRESHOLD, class_names: Sequence[str] = DEFAULT_CLASS_NAMES,
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
        is_low = top < threshold
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


# --------------------------------------------------------------------------- statistics


def bin_edges(n_bins: int = DEFAULT_BINS, lo: float = CONFIDENCE_RANGE[0], hi: float = CONFIDENCE_RANGE[1]) -> list[float]:
    return [lo + (hi - lo) * i / n_bins for i in range(n_bins + 1)]


def histogram(values: Iterable[float], n_bins: int = DEFAULT_BINS, lo: float = CONFIDENCE_RANGE[0],
              hi: float = CONFIDENCE_RANGE[1]) -> list[int]:
    """Counts per equal-width bin on [lo, hi]; out-of-range values go to the first/last bin."""
    counts = [0] * n_bins
    width = (hi - lo) / n_bins
    for value in values:
        index = int((value - lo) // width) if value > lo else 0
        counts[min(max(index, 0), n_bins - 1)] += 1
    return counts


def smoothed_shares(counts: Sequence[int], epsilon: float = DEFAULT_EPSILON) -> list[float]:
    total = sum(counts)
    if total <= 0:
        raise ValueError("cannot take shares of an empty distribution")
    return [max(c / total, epsilon) for c in counts]


def psi(expected_counts: Sequence[int], actual_counts: Sequence[int], epsilon: float = DEFAULT_EPSILON) -> float:
    """Population stability index between two count vectors over the same bins."""
    if len(expected_counts) != len(actual_counts):
        raise ValueError("PSI needs two count vectors of the same length")
    expected = smoothed_shares(expected_counts, epsilon)
    actual = smoothed_shares(actual_counts, epsilon)
    return sum((a - e) * math.log(a / e) for e, a in zip(expected, actual))


def total_variation(p: Sequence[float], q: Sequence[float]) -> float:
    return 0.5 * sum(abs(a - b) for a, b in zip(p, q))


@dataclass(frozen=True)
class DriftThresholds:
    psi: float = 0.2                       # confidence PSI above this = drift
    class_mix_tvd: float = 0.15            # class-mix total variation distance above this = drift
    low_confidence_delta: float = 0.15     # rise of the low-confidence share above this = drift
    min_records: int = 30                  # never flag drift on fewer valid records
    n_bins: int = DEFAULT_BINS
    epsilon: float = DEFAULT_EPSILON

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        "low_confidence_share": sum(1 for c in conf if c < threshold) / n,
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

    cur_low = sum(1 for t in tops if t < threshold) / n
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
        class_names = baseline.class_names if baseline is not None else DEFAULT_CLASS_NAMES
    report = summarize(records, bad, threshold=threshold, class_names=class_names,
                       max_bad_examples=max_bad_examples)
    report["drift"] = compute_drift(records, baseline, threshold=threshold, class_names=class_names,
                                    thresholds=thresholds)
    return report
