from __future__ import annotations

import json

import pytest

from scones_contracts.baseline import Baseline, BaselineError
from scones_contracts.tarball import tar_gz_bytes

ROWS = [[0.97, 0.03], [0.2, 0.8], [0.55, 0.45], [0.01, 0.99]]


def baseline() -> Baseline:
    return Baseline.from_predictions(ROWS, ("bicycle", "motorcycle"), threshold=0.93)


def test_from_predictions():
    b = baseline()
    assert b.top_confidence == (0.97, 0.8, 0.55, 0.99)
    assert b.predicted == ("bicycle", "motorcycle", "bicycle", "motorcycle")
    assert b.class_counts == {"bicycle": 2, "motorcycle": 2}
    assert (b.version, b.source, b.threshold) == (1, "validation", 0.93)


def test_what_the_writer_writes_the_reader_reads(tmp_path):
    b = baseline()
    assert Baseline.from_bytes(b.to_json_bytes()) == b
    assert b.to_json_bytes() == baseline().to_json_bytes()  # stable bytes
    assert json.loads(b.to_json_bytes()) == b.to_dict()
    model = tmp_path / "model.tar.gz"
    model.write_bytes(tar_gz_bytes({"model.pth": b"w" * 100, "baseline.json": b.to_json_bytes()}))
    assert Baseline.load(model) == b


@pytest.mark.parametrize("change, message", [
    ({"version": 2}, "unsupported version 2"),
    ({"threshold": 0.3}, r"threshold must satisfy 0.5 <= threshold < 1"),
    ({"class_names": ["bicycle"]}, "class_names must be at least two distinct"),
    ({"top_confidence": []}, "top_confidence must be a non-empty list"),
    ({"top_confidence": [0.9, 1.2, 0.6, 0.7]}, r"top_confidence\[1\] = 1.2"),
    ({"predicted": ["bicycle"]}, "predicted must be a list as long as top_confidence"),
    ({"predicted": ["bicycle", "car", "bicycle", "motorcycle"]}, r"predicted\[1\] = 'car'"),
    ({"class_counts": {"bicycle": 3, "motorcycle": 1}}, r"class_counts\['bicycle'\] = 3 but predicted holds 2"),
])
def test_schema_violations_name_the_origin_and_the_problem(change, message):
    data = {**baseline().to_dict(), **change}
    with pytest.raises(BaselineError, match=f"^s3://b/k: .*{message}"):
        Baseline.from_dict(data, origin="s3://b/k")


def test_unreadable_inputs():
    with pytest.raises(BaselineError, match="missing key"):
        Baseline.from_dict({"version": 1})
    with pytest.raises(BaselineError, match="not valid JSON"):
        Baseline.from_bytes(b"{nope")
    with pytest.raises(BaselineError, match="archive has no baseline.json"):
        Baseline.from_bytes(tar_gz_bytes({"model.pth": b"x"}), origin="model.tar.gz")
    with pytest.raises(BaselineError, match="cannot read baseline"):
        Baseline.load("/nonexistent/baseline.json")
