"""The drift statistics, the baseline as the drift check reads it, and the report on generated traffic."""
from __future__ import annotations

import io
import json
import math
import tarfile
from datetime import timedelta

import pytest

from lambdas.drift.capture import parse_paths
from lambdas.drift.report import build_report, compute_drift
from lambdas.drift.statistics import DriftThresholds, histogram, psi, total_variation
from scones.capture_writer import CaptureWriter
from scones_contracts.baseline import Baseline, BaselineError


def _traffic_records(lib, tmp_path, probs_list, name="traffic"):
    writer = CaptureWriter(tmp_path / name, lib.ENDPOINT)
    lib.write_traffic(writer, probs_list, lib.utc(2024, 11, 1, 8), spacing=timedelta(seconds=20))
    result = parse_paths(writer.capture_dir)
    assert result.bad == [] and len(result.records) == len(probs_list)
    return result.records


# ----------------------------------------------------------------------------- statistics


def test_histogram_bins_and_clamping():
    counts = histogram([0.5, 0.51, 0.549, 0.55, 0.97, 1.0, 0.2, 1.3])
    assert len(counts) == 10 and sum(counts) == 8
    assert counts[0] == 4  # 0.5, 0.51, 0.549 and the clamped 0.2
    assert counts[-1] == 3  # 0.97, 1.0 and the clamped 1.3


def test_psi_matches_the_formula_and_smooths_empty_bins():
    expected, actual = [50, 30, 20], [20, 30, 50]
    e = [c / 100 for c in expected]
    a = [c / 100 for c in actual]
    assert psi(expected, actual) == pytest.approx(sum((y - x) * math.log(y / x) for x, y in zip(e, a)))
    assert psi(expected, expected) == 0.0
    empty_bin = psi([10, 0], [5, 5], epsilon=1e-4)
    assert math.isfinite(empty_bin)
    assert empty_bin == pytest.approx((1.0 - 0.5) * math.log(1.0 / 0.5) + (0.5 - 1e-4) * math.log(0.5 / 1e-4))
    with pytest.raises(ValueError):
        psi([1, 2], [1, 2, 3])


def test_total_variation():
    assert total_variation([0.7, 0.3], [0.7, 0.3]) == 0
    assert total_variation([0.7, 0.3], [0.2, 0.8]) == pytest.approx(0.5)
    assert total_variation([1, 0], [0, 1]) == 1


# ----------------------------------------------------------------------------- baseline


def test_baseline_from_json_file(baseline_file, baseline_dict):
    baseline = Baseline.load(baseline_file)
    assert baseline.to_dict() == baseline_dict
    assert baseline.class_names == ("bicycle", "motorcycle")


@pytest.mark.parametrize("member", ["baseline.json", "./baseline.json"])
def test_baseline_from_model_tar_gz(tmp_path, lib, baseline_dict, member):
    path = tmp_path / "model.tar.gz"
    path.write_bytes(lib.model_tar_gz(baseline_dict, member=member))
    assert Baseline.load(path).to_dict() == baseline_dict


def test_baseline_from_uncompressed_tar(tmp_path, baseline_dict):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        blob = json.dumps(baseline_dict).encode()
        info = tarfile.TarInfo("baseline.json")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    path = tmp_path / "model.tar"
    path.write_bytes(buf.getvalue())
    assert Baseline.load(path).predicted == tuple(baseline_dict["predicted"])


def test_model_tar_gz_without_baseline_or_nested_is_rejected(tmp_path, lib, baseline_dict):
    path = tmp_path / "model.tar.gz"
    path.write_bytes(lib.model_tar_gz(baseline_dict, member="nested/baseline.json"))
    with pytest.raises(BaselineError, match="no baseline.json at its root"):
        Baseline.load(path)
    path.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(BaselineError, match="tar archive"):
        Baseline.load(path)
    with pytest.raises(BaselineError, match="cannot read"):
        Baseline.load(tmp_path / "missing.json")


def _broken(mutate):
    def apply(data):
        mutate(data)
        return data
    return apply


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.pop("top_confidence"), "missing key"),
    (lambda d: d.update(version=2), "unsupported version"),
    (lambda d: d.update(threshold=1.5), "threshold"),
    (lambda d: d.update(class_names=["bicycle"]), "class_names"),
    (lambda d: d["top_confidence"].__setitem__(0, 1.7), r"top_confidence\[0\]"),
    (lambda d: d["top_confidence"].__setitem__(0, "high"), r"top_confidence\[0\]"),
    (lambda d: d["predicted"].pop(), "as long as top_confidence"),
    (lambda d: d["predicted"].__setitem__(0, "scooter"), r"predicted\[0\]"),
    (lambda d: d["class_counts"].update(bicycle=d["class_counts"]["bicycle"] + 1), "predicted holds"),
    (lambda d: d["class_counts"].pop("motorcycle"), "class_counts must have exactly"),
    (lambda d: d.update(top_confidence=[], predicted=[]), "non-empty"),
])
def test_baseline_validation_errors(baseline_dict, mutate, message):
    data = json.loads(json.dumps(baseline_dict))
    mutate(data)
    with pytest.raises(BaselineError, match=message):
        Baseline.from_dict(data, origin="test")


def test_baseline_not_json(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text("{not json")
    with pytest.raises(BaselineError, match="not valid JSON"):
        Baseline.load(path)


# ----------------------------------------------------------------------------- drift


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_undrifted_traffic_is_not_flagged(lib, tmp_path, baseline_dict, seed):
    baseline = Baseline.from_dict(baseline_dict)
    records = _traffic_records(lib, tmp_path, lib.sample_traffic(baseline_dict, 300, seed=seed))
    drift = compute_drift(records, baseline)
    assert drift["computed"] is True
    assert drift["sufficient_sample"] is True and drift["sample_size"] == 300
    assert drift["drift_detected"] is False, drift["reasons"]
    assert drift["reasons"] == []
    assert drift["confidence_psi"] < 0.2
    assert drift["class_mix"]["tvd"] < 0.15
    # baseline figures are reported alongside, computed from the baseline itself
    tops = baseline_dict["top_confidence"]
    assert drift["baseline"]["records"] == len(tops)
    assert drift["baseline"]["mean_confidence"] == pytest.approx(sum(tops) / len(tops))
    assert drift["low_confidence_share"]["baseline"] == pytest.approx(sum(t < 0.93 for t in tops) / len(tops))
    assert sum(drift["confidence_bins"]["current_counts"]) == 300
    assert sum(drift["confidence_bins"]["baseline_counts"]) == len(tops)


def test_drifted_traffic_is_flagged_with_all_reasons(lib, tmp_path, baseline_dict):
    baseline = Baseline.from_dict(baseline_dict)
    probs = lib.sample_traffic(baseline_dict, 300, seed=11, low_confidence=True, bicycle_share=0.2)
    records = _traffic_records(lib, tmp_path, probs)
    drift = compute_drift(records, baseline)
    assert drift["drift_detected"] is True
    reasons = " | ".join(drift["reasons"])
    assert "confidence PSI" in reasons and "class-mix" in reasons and "low-confidence share" in reasons
    base_bicycle = baseline_dict["class_counts"]["bicycle"] / len(baseline_dict["predicted"])
    current_bicycle = sum(p[0] > p[1] for p in probs) / len(probs)
    assert drift["class_mix"]["tvd"] == pytest.approx(abs(base_bicycle - current_bicycle))
    assert drift["class_mix"]["current_shares"]["bicycle"] == pytest.approx(current_bicycle)
    assert drift["low_confidence_share"]["delta"] > 0.15
    assert drift["mean_confidence"]["delta"] < 0


def test_class_flip_alone_reports_only_class_mix(lib, tmp_path, baseline_dict):
    baseline = Baseline.from_dict(baseline_dict)
    records = _traffic_records(lib, tmp_path, lib.sample_traffic(baseline_dict, 300, seed=5, bicycle_share=0.2))
    drift = compute_drift(records, baseline)
    assert drift["drift_detected"] is True
    assert len(drift["reasons"]) == 1 and drift["reasons"][0].startswith("class-mix shift")
    assert drift["confidence_psi"] < 0.2


def test_confidence_shift_alone_reports_psi_not_class_mix(lib, tmp_path, baseline_dict):
    baseline = Baseline.from_dict(baseline_dict)
    records = _traffic_records(lib, tmp_path, lib.sample_traffic(baseline_dict, 300, seed=6, low_confidence=True))
    drift = compute_drift(records, baseline)
    assert drift["drift_detected"] is True
    assert any(r.startswith("confidence PSI") for r in drift["reasons"])
    assert not any(r.startswith("class-mix") for r in drift["reasons"])


def test_small_samples_are_reported_but_not_flagged(lib, tmp_path, baseline_dict):
    baseline = Baseline.from_dict(baseline_dict)
    probs = lib.sample_traffic(baseline_dict, 12, seed=3, low_confidence=True, bicycle_share=0.0)
    records = _traffic_records(lib, tmp_path, probs)
    drift = compute_drift(records, baseline)
    assert drift["computed"] is True
    assert drift["sample_size"] == 12 and drift["min_records"] == 30
    assert drift["sufficient_sample"] is False
    assert drift["drift_detected"] is False and drift["reasons"] == []
    assert drift["suppressed_reasons"], "the would-be reasons are listed"
    assert "12 valid records" in drift["note"]
    # the minimum is configurable
    lowered = compute_drift(records, baseline, thresholds=DriftThresholds(min_records=10))
    assert lowered["drift_detected"] is True and lowered["reasons"] == drift["suppressed_reasons"]


def test_thresholds_are_configurable(lib, tmp_path, baseline_dict):
    baseline = Baseline.from_dict(baseline_dict)
    records = _traffic_records(lib, tmp_path, lib.sample_traffic(baseline_dict, 300, seed=5, bicycle_share=0.2))
    default = compute_drift(records, baseline)
    tvd = default["class_mix"]["tvd"]
    relaxed = compute_drift(records, baseline, thresholds=DriftThresholds(class_mix_tvd=tvd + 0.01))
    assert relaxed["drift_detected"] is False
    assert relaxed["thresholds"]["class_mix_tvd"] == pytest.approx(tvd + 0.01)


def test_no_baseline_and_no_records(lib, baseline_dict):
    assert compute_drift([], None) == {"computed": False, "reason": "no baseline given"}
    empty = compute_drift([], Baseline.from_dict(baseline_dict))
    assert empty["computed"] is False and empty["sample_size"] == 0 and "no valid" in empty["reason"]


def test_report_threshold_defaults_to_the_baselines(lib, baseline_dict):
    data = dict(baseline_dict, threshold=0.8)
    baseline = Baseline.from_dict(data)
    records = parse_paths(lib.REAL_CAPTURE).records
    report = build_report(records, baseline=baseline)
    tops = [r.top_confidence for r in records]
    assert report["threshold"] == 0.8
    assert report["low_confidence_share"] == pytest.approx(sum(t < 0.8 for t in tops) / len(tops))
    assert report["drift"]["sample_size"] == len(records)
    assert report["drift"]["sufficient_sample"] is (len(records) >= 30)
    with pytest.raises(BaselineError, match="class_names"):
        build_report(records, baseline=baseline, class_names=("bike", "moto"))
