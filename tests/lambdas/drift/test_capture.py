"""The capture parser on the real SageMaker samples and on broken input."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest

from lambdas.drift.capture import parse_line, parse_lines, parse_paths
from lambdas.drift.report import build_report, summarize
from scones_contracts.capture import CaptureFormatError, decode_payload


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_fixture_tree_is_the_shared_samples_in_sagemaker_layout(lib):
    files = sorted(lib.REAL_CAPTURE.rglob("*.jsonl"))
    assert len(files) == 12
    for path in files:
        rel = path.relative_to(lib.REAL_CAPTURE).parts
        assert rel[0] == "AllTraffic" and len(rel) == 6, rel
        hour = "/".join(rel[1:5])
        for line in path.read_text().splitlines():
            when = _time(json.loads(line)["eventMetadata"]["inferenceTime"])
            assert when.strftime("%Y/%m/%d/%H") == hour
        # SageMaker names a file after the minute/second/ms of its first record
        first = _time(json.loads(path.read_text().splitlines()[0])["eventMetadata"]["inferenceTime"])
        assert path.name.startswith(first.strftime("%M-%S-"))
    if lib.SHARED_SAMPLES.is_dir():
        shared = {p.name: p.read_bytes() for p in lib.SHARED_SAMPLES.glob("*.jsonl")}
        assert {p.name: p.read_bytes() for p in files} == shared


def test_real_samples_parse_and_match_an_independent_count(lib):
    raw = [json.loads(line) for _, line in lib.raw_capture_lines(lib.REAL_CAPTURE)]
    probs = [lib.raw_output_probs(obj) for obj in raw]
    tops = [max(p) for p in probs]
    expected_counts = {name: sum(1 for p in probs if lib.CLASS_NAMES[p.index(max(p))] == name)
                       for name in lib.CLASS_NAMES}
    times = sorted(obj["eventMetadata"]["inferenceTime"] for obj in raw)

    result = parse_paths(lib.REAL_CAPTURE)
    assert result.files == 12
    assert result.bad == []
    assert len(result.records) == len(raw) == 22
    report = build_report(result.records, result.bad)
    assert report["records"] == 22
    assert report["bad_records"] == 0
    assert report["class_counts"] == expected_counts
    assert sum(report["class_counts"].values()) == 22
    assert report["mean_confidence"] == pytest.approx(sum(tops) / len(tops))
    assert report["low_confidence_share"] == pytest.approx(sum(t < 0.93 for t in tops) / len(tops))
    assert report["threshold"] == 0.93
    assert report["first_inference_time"] == times[0]
    assert report["last_inference_time"] == times[-1]
    assert {r.event_id for r in result.records} == {obj["eventMetadata"]["eventId"] for obj in raw}
    assert all(r.input_content_type == "image/png" and r.input_bytes > 0 for r in result.records)
    assert report["drift"] == {"computed": False, "reason": "no baseline given"}


def test_hourly_series_matches_the_hour_folders(lib):
    result = parse_paths(lib.REAL_CAPTURE)
    summary = summarize(result.records)
    per_folder = {}
    for path, _ in lib.raw_capture_lines(lib.REAL_CAPTURE):
        y, m, d, h = path.parent.relative_to(lib.REAL_CAPTURE / "AllTraffic").parts
        key = f"{y}-{m}-{d}T{h}:00:00Z"
        per_folder[key] = per_folder.get(key, 0) + 1
    assert [(h["hour"], h["records"]) for h in summary["hourly"]] == sorted(per_folder.items())
    for hour in summary["hourly"]:
        assert sum(hour["class_counts"].values()) == hour["records"]
        assert sum(hour["class_shares"].values()) == pytest.approx(1.0)
        assert 0.0 <= hour["low_confidence_share"] <= 1.0


def test_threshold_and_class_names_are_configurable(lib):
    result = parse_paths(lib.REAL_CAPTURE)
    tops = [r.top_confidence for r in result.records]
    for threshold in (0.6, 0.9, 0.99):
        summary = summarize(result.records, threshold=threshold, class_names=("bike", "moto"))
        assert summary["low_confidence_share"] == pytest.approx(sum(t < threshold for t in tops) / len(tops))
        assert set(summary["class_counts"]) == {"bike", "moto"}


MALFORMED_EXPECTED = {  # line number -> reason fragment, as designed in the fixture file
    4: "malformed JSON",
    5: "malformed JSON",
    6: "endpointOutput missing",
    7: "3 values",
    8: "sum to 1.4",
    11: "not JSON",
    12: "not valid base64",
    13: "not a JSON object",
    14: "inferenceTime",
    16: "outside [0, 1]",
    17: "not a number",
}


def test_bad_lines_are_counted_with_file_line_and_reason_not_fatal(lib):
    result = parse_paths(lib.MALFORMED)
    (path,) = list(lib.MALFORMED.rglob("*.jsonl"))
    lines = path.read_text().splitlines()
    blank = [i for i, line in enumerate(lines, 1) if not line.strip()]
    assert blank, "fixture must contain blank lines"
    by_line = {bad.line: bad for bad in result.bad}
    assert set(by_line) == set(MALFORMED_EXPECTED)
    for number, fragment in MALFORMED_EXPECTED.items():
        assert fragment in by_line[number].reason, (number, by_line[number].reason)
        assert by_line[number].source == str(path)
    good_lines = set(range(1, len(lines) + 1)) - set(blank) - set(MALFORMED_EXPECTED)
    assert sorted(r.line for r in result.records) == sorted(good_lines)
    # the valid ones cover BASE64 and CSV outputs and JSON/CSV inputs
    report = build_report(result.records, result.bad, max_bad_examples=3)
    assert report["records"] == len(good_lines)
    assert report["bad_records"] == len(MALFORMED_EXPECTED)
    assert [b["line"] for b in report["bad_record_examples"]] == sorted(MALFORMED_EXPECTED)[:3]
    assert all(b["file"] == str(path) and b["reason"] for b in report["bad_record_examples"])


def test_whole_fixture_tree_mixes_good_and_bad_files(lib):
    everything = parse_paths(lib.FIXTURES)
    good = parse_paths(lib.REAL_CAPTURE)
    bad = parse_paths(lib.MALFORMED)
    assert len(everything.records) == len(good.records) + len(bad.records)
    assert len(everything.bad) == len(bad.bad)


@pytest.mark.parametrize("encoding,data,expected", [
    ("JSON", "[0.2, 0.8]", [0.2, 0.8]),
    ("BASE64", base64.b64encode(b"[0.7, 0.3]").decode(), [0.7, 0.3]),
    ("CSV", "0.25,0.75", [0.25, 0.75]),
    ("BASE64", base64.b64encode(b'{"probabilities": [0.4, 0.6]}').decode(), [0.4, 0.6]),
    ("JSON", "[[0.9, 0.1]]", [0.9, 0.1]),
])
def test_output_encodings(encoding, data, expected):
    line = json.dumps({"captureData": {"endpointOutput": {"observedContentType": "application/json",
                                                          "mode": "OUTPUT", "data": data, "encoding": encoding}},
                       "eventMetadata": {"eventId": "e", "inferenceTime": "2024-10-16T09:30:13.250Z"}})
    record = parse_line(line)
    assert list(record.probabilities) == pytest.approx(expected)
    assert record.inference_time == datetime(2024, 10, 16, 9, 30, 13, 250000, tzinfo=timezone.utc)
    assert record.input_bytes is None  # output-only capture is fine


def test_decode_payload_rejects_unknown_encoding():
    with pytest.raises(CaptureFormatError, match="not supported"):
        decode_payload({"data": "x", "encoding": "ROT13"})
    assert decode_payload({"data": "YWJj", "encoding": "BASE64"}) == b"abc"
    assert decode_payload({"data": "1,2", "encoding": "CSV"}) == b"1,2"


def test_parse_lines_from_any_iterable_of_str_or_bytes(lib):
    (path, line), *_ = lib.raw_capture_lines(lib.REAL_CAPTURE)
    result = parse_lines([line, "", "garbage", line.encode(), b"\xff\xfe"], source="mem")
    assert len(result.records) == 2
    assert [(b.line, b.source) for b in result.bad] == [(3, "mem"), (5, "mem")]
    assert "UTF-8" in result.bad[1].reason


def test_unreadable_file_is_a_bad_record(tmp_path):
    missing = tmp_path / "gone.jsonl"
    result = parse_paths([missing])
    # a missing explicit path yields no files at all (nothing to walk)
    assert result.records == [] and result.files == 0
    from lambdas.drift.capture import parse_file
    single = parse_file(missing)
    assert single.records == [] and len(single.bad) == 1 and "cannot read" in single.bad[0].reason
