from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from scones_contracts import capture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "datacapture"


def test_layout_matches_real_sagemaker_capture_files():
    files = sorted((FIXTURES / "scones-vehicle-classifier").rglob("*.jsonl"))
    assert files
    for path in files:
        key = path.relative_to(FIXTURES).as_posix()
        hour = capture.hour_of_key(key)
        assert key.startswith("scones-vehicle-classifier/AllTraffic/")
        assert capture.hour_folder(hour) == "/".join(key.split("/")[2:6])
        first = json.loads(path.read_text().splitlines()[0])
        when = capture.parse_inference_time(first["eventMetadata"]["inferenceTime"])
        assert hour <= when < hour + timedelta(hours=1)
        assert path.name.startswith(f"{when:%M-%S}-")


def test_file_name_and_prefix():
    when = datetime(2024, 10, 16, 9, 30, 13, 987654, tzinfo=timezone.utc)
    assert capture.file_name(when, "u-1") == "30-13-987-u-1.jsonl"
    assert capture.hour_folder(when) == "2024/10/16/09"
    assert capture.endpoint_capture_prefix("datacapture/", "ep") == "datacapture/ep/"
    assert capture.hour_of_key("datacapture/ep/AllTraffic/2024/13/16/09/x.jsonl") is None
    assert capture.hour_of_key("no-hour/x.jsonl") is None


def test_a_written_line_decodes_back_to_the_bytes():
    when = datetime(2024, 10, 16, 9, 30, 13, tzinfo=timezone.utc)
    line = capture.capture_line(b"\x89PNG...", "image/png", b"[0.9, 0.1]", "application/json", when, "e-1")
    record = json.loads(line)
    assert record["eventVersion"] == "0" and "\n" not in line
    data = record["captureData"]
    assert data["endpointInput"]["encoding"] == "BASE64"
    assert data["endpointOutput"] == {"observedContentType": "application/json", "mode": "OUTPUT",
                                      "data": "[0.9, 0.1]", "encoding": "JSON"}
    assert capture.decode_payload(data["endpointInput"]) == b"\x89PNG..."
    assert capture.decode_payload(data["endpointOutput"]) == b"[0.9, 0.1]"
    assert capture.parse_inference_time(record["eventMetadata"]["inferenceTime"]) == when


def test_non_utf8_json_output_falls_back_to_base64():
    payload = capture.encode_payload(b"\xff\xfe", "application/json", "OUTPUT", as_text_if_json=True)
    assert payload["encoding"] == "BASE64" and base64.b64decode(payload["data"]) == b"\xff\xfe"


@pytest.mark.parametrize("payload, message", [
    ("x", "is not an object"), ({}, "data missing"), ({"data": "@@", "encoding": "BASE64"}, "not valid base64"),
    ({"data": "x", "encoding": "ROT13"}, "not supported"),
])
def test_bad_payloads_say_why(payload, message):
    with pytest.raises(capture.CaptureFormatError, match=message):
        capture.decode_payload(payload, "endpointOutput")


def test_inference_times():
    assert capture.parse_inference_time("2024-10-16T09:30:13.5+02:00") == datetime(
        2024, 10, 16, 7, 30, 13, 500000, tzinfo=timezone.utc)
    assert capture.parse_inference_time("2024-10-16T09:30:13").tzinfo == timezone.utc
    for bad in (None, "", "yesterday"):
        with pytest.raises(capture.CaptureFormatError, match="inferenceTime"):
            capture.parse_inference_time(bad)


def test_json_content_types():
    assert capture.is_json_content_type("application/json; charset=utf-8")
    assert capture.is_json_content_type("application/vnd.x+json")
    assert not capture.is_json_content_type("image/png")
    assert not capture.is_json_content_type(None)
