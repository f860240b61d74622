"""CaptureWriter writes what SageMaker writes, where SageMaker writes it."""
from __future__ import annotations

import base64
import json
import os
import re
import threading
from datetime import datetime, timedelta, timezone

import pytest

from lambdas.drift.capture import parse_paths
from lambdas.drift.report import build_report
from scones.capture_writer import CaptureWriter
from scones_contracts.capture import capture_line, is_json_content_type

NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{3})-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.jsonl$")


def _decode_real(obj):
    cap = obj["captureData"]
    return dict(
        input_bytes=base64.b64decode(cap["endpointInput"]["data"]),
        input_content_type=cap["endpointInput"]["observedContentType"],
        output_bytes=cap["endpointOutput"]["data"].encode(),
        output_content_type=cap["endpointOutput"]["observedContentType"],
        inference_time=datetime.fromisoformat(obj["eventMetadata"]["inferenceTime"].replace("Z", "+00:00")),
        event_id=obj["eventMetadata"]["eventId"],
    )


def test_capture_line_is_byte_identical_to_real_sagemaker_lines(lib):
    lines = lib.raw_capture_lines(lib.REAL_CAPTURE)
    assert len(lines) == 22
    for _, line in lines:
        assert capture_line(**_decode_real(json.loads(line))) == line


def test_round_trip_parses_identically_to_the_real_samples(lib, tmp_path):
    writer = CaptureWriter(tmp_path, lib.ENDPOINT)
    written = set()
    for _, line in lib.raw_capture_lines(lib.REAL_CAPTURE):
        written.add(writer.write(**_decode_real(json.loads(line))))
    real = parse_paths(lib.REAL_CAPTURE)
    ours = parse_paths(tmp_path)
    assert ours.bad == []

    def key(r):
        return (r.event_id, r.probabilities, r.inference_time, r.input_content_type, r.input_bytes)

    assert sorted(map(key, ours.records)) == sorted(map(key, real.records))
    assert build_report(ours.records) == build_report(real.records)
    # same nested layout: one file per hour folder, in the same hour folders as the real samples
    rel = lambda root, p: os.path.relpath(os.path.dirname(p), root)  # noqa: E731
    real_dirs = {rel(lib.FIXTURES, p) for p in lib.REAL_CAPTURE.rglob("*.jsonl")}
    assert {rel(tmp_path, p) for p in written} == real_dirs
    assert len(written) == len(real_dirs)


def test_layout_naming_and_hourly_roll(lib, tmp_path):
    writer = CaptureWriter(tmp_path, "ep-1", variant_name="Blue")
    start = datetime(2024, 12, 31, 23, 58, 7, 123456, tzinfo=timezone.utc)
    paths = [writer.write(b"img", "image/png", b"[0.9, 0.1]", "application/json",
                          inference_time=start + timedelta(seconds=40 * i)) for i in range(6)]
    # 23:58:07 .. 00:01:27 spans two hours (and a year boundary)
    first, second = paths[0], paths[-1]
    assert paths[:3] == [first] * 3 and paths[3:] == [second] * 3
    assert os.path.dirname(first) == str(tmp_path / "ep-1" / "Blue" / "2024" / "12" / "31" / "23")
    assert os.path.dirname(second) == str(tmp_path / "ep-1" / "Blue" / "2025" / "01" / "01" / "00")
    assert NAME.match(os.path.basename(first)).groups() == ("58", "07", "123")
    assert NAME.match(os.path.basename(second)).groups()[:2] == ("00", "07")
    with open(first) as handle:
        assert len(handle.read().splitlines()) == 3
    assert writer.capture_dir == str(tmp_path / "ep-1" / "Blue")


def test_naive_times_are_utc_and_defaults_fill_in(tmp_path):
    writer = CaptureWriter(tmp_path, "ep")
    path = writer.write(b"x", "image/png", b"[0.3, 0.7]", "application/json",
                        inference_time=datetime(2024, 10, 16, 9, 5, 1))
    assert "/2024/10/16/09/" in path
    before = datetime.now(timezone.utc).replace(microsecond=0)
    auto = writer.write(b"x", "image/png", b"[0.3, 0.7]", "application/json")
    record = parse_paths(auto).records[-1]
    assert before - timedelta(seconds=1) <= record.inference_time <= datetime.now(timezone.utc)
    assert record.event_id and len(record.event_id) == 36


def test_output_encoding_follows_content_type(tmp_path):
    writer = CaptureWriter(tmp_path, "ep")
    when = datetime(2024, 10, 16, 9, tzinfo=timezone.utc)
    writer.write(b"\x00\x01", "application/x-image", b"0.2,0.8", "text/csv", inference_time=when)
    writer.write(b"\x00\x01", "image/png", b'{"probabilities": [0.6, 0.4]}', "application/json; charset=utf-8",
                 inference_time=when)
    writer.write(b"\x00\x01", "image/png", b"\xff[0.6, 0.4]", "application/json", inference_time=when)
    (path,) = [os.path.join(d, f) for d, _, files in os.walk(tmp_path) for f in files]
    objs = [json.loads(line) for line in open(path)]
    assert [o["captureData"]["endpointInput"]["encoding"] for o in objs] == ["BASE64"] * 3
    assert [o["captureData"]["endpointOutput"]["encoding"] for o in objs] == ["BASE64", "JSON", "BASE64"]
    result = parse_paths(tmp_path)
    assert [r.probabilities for r in result.records] == [(0.2, 0.8), (0.6, 0.4)]
    assert len(result.bad) == 1 and "UTF-8" in result.bad[0].reason  # non-UTF-8 JSON body kept as base64
    assert all(r.input_bytes == 2 for r in result.records)


@pytest.mark.parametrize("content_type,expected", [
    ("application/json", True), ("application/jsonlines", True), ("text/json", True),
    ("application/vnd.api+json", True), ("APPLICATION/JSON; charset=utf-8", True),
    ("text/csv", False), ("image/png", False), ("", False), (None, False),
])
def test_is_json_content_type(content_type, expected):
    assert is_json_content_type(content_type) is expected


def test_thread_safety_many_writers(tmp_path):
    writer = CaptureWriter(tmp_path, "ep")
    when = datetime(2024, 10, 16, 9, 30, tzinfo=timezone.utc)
    big_input = os.urandom(20_000)  # long lines make interleaving visible if it happens

    def work(worker):
        for i in range(50):
            p = (worker * 50 + i) / 400
            writer.write(big_input, "image/png", json.dumps([p, 1 - p]).encode(), "application/json",
                         inference_time=when + timedelta(seconds=i), event_id=f"w{worker}-{i}")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = parse_paths(tmp_path)
    assert result.bad == []
    assert sorted(r.event_id for r in result.records) == sorted(f"w{w}-{i}" for w in range(8) for i in range(50))
    assert result.files == 1  # one hour, one file
    assert all(r.input_bytes == len(big_input) for r in result.records)


def test_sampling_percentage(tmp_path):
    when = datetime(2024, 10, 16, 9, tzinfo=timezone.utc)
    args = (b"x", "image/png", b"[0.5, 0.5]", "application/json")
    none = CaptureWriter(tmp_path / "none", "ep", sampling_percentage=0)
    assert all(none.write(*args, inference_time=when) is None for _ in range(20))
    assert not (tmp_path / "none").exists()
    half = CaptureWriter(tmp_path / "half", "ep", sampling_percentage=50, seed=42)
    results = [half.write(*args, inference_time=when) for _ in range(400)]
    kept = sum(r is not None for r in results)
    assert 120 < kept < 280
    assert len(parse_paths(tmp_path / "half").records) == kept
    with pytest.raises(ValueError):
        CaptureWriter(tmp_path, "ep", sampling_percentage=101)
    with pytest.raises(ValueError):
        CaptureWriter(tmp_path, "a/b")


def test_max_records_per_file_rolls_within_the_hour(tmp_path):
    writer = CaptureWriter(tmp_path, "ep", max_records_per_file=4)
    when = datetime(2024, 10, 16, 9, tzinfo=timezone.utc)
    paths = [writer.write(b"x", "image/png", b"[0.5, 0.5]", "application/json",
                          inference_time=when + timedelta(seconds=i)) for i in range(10)]
    assert len(set(paths)) == 3
    assert parse_paths(tmp_path).files == 3
