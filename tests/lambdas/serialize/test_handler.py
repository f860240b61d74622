"""serialize handler against moto S3 with real and deliberately broken images."""
from __future__ import annotations

import base64
import io
import json
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from lambdas.serialize import handler as serialize_handler
from lambdas.serialize.errors import ImageNotFoundError, InvalidEventError
from scones_contracts.env import ConfigurationError
from scones_contracts.images import REASON_CODES
from scones_contracts.quarantine import upload_id
from tests import image_factory
from tests.lambdas.lambda_helpers import emf_dimension_sets, emf_metric_names, emf_records_with, emf_values, invoke

handler = serialize_handler.handler
STATE_LIMIT_BYTES = 256 * 1024


def put(s3, bucket, key, data, **extra):
    return s3.put_object(Bucket=bucket, Key=key, Body=data, **extra)


def event_for(bucket, key, **overrides):
    event = {"bucket": bucket, "key": key, "etag": None, "version_id": None, "size": None,
             "execution_id": "exec-0001"}
    event.update(overrides)
    return event


def decode_payload(result) -> Image.Image:
    img = Image.open(io.BytesIO(base64.b64decode(result["image_data"])))
    assert img.format == "PNG"
    img.load()
    return img


def assert_unchanged(s3, bucket, key, data):
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data


def count_calls(s3, operation=None):
    """Record the API parameters of every call to ``operation`` (all S3 operations when None)."""
    calls = []
    event = "before-parameter-build.s3" + (f".{operation}" if operation else "")
    s3.meta.events.register(event, lambda params, **_: calls.append(dict(params)))
    return calls


# ---------------------------------------------------------------- valid images


@pytest.mark.parametrize("index", range(8))
def test_real_images_are_accepted_with_exact_pixels(s3, bucket, labelled_images, lambda_context, index):
    image = labelled_images[index]
    key = f"incoming/{image.class_name}/{image.path.name}"
    put(s3, bucket, key, image.data)
    head = s3.head_object(Bucket=bucket, Key=key)

    result = invoke(handler, event_for(bucket, key, etag=head["ETag"].strip('"'), size=len(image.data)), lambda_context)

    source = Image.open(io.BytesIO(image.data))
    source.load()
    assert result["valid"] is True
    assert (result["bucket"], result["key"]) == (bucket, key)
    assert result["etag"] == head["ETag"].strip('"')
    assert result["version_id"] is None
    assert result["content_type"] == "image/png"
    assert result["source_format"] == source.format
    assert (result["source_width"], result["source_height"]) == source.size
    assert result["source_bytes"] == len(image.data)
    # Small images are not upscaled: the payload is the source composited onto white, pixel for pixel.
    expected = Image.alpha_composite(Image.new("RGBA", source.size, "white"), source.convert("RGBA")).convert("RGB")
    payload = decode_payload(result)
    assert payload.mode == "RGB"
    assert payload.size == expected.size
    assert payload.tobytes() == expected.tobytes()
    assert_unchanged(s3, bucket, key, image.data)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG"])
def test_each_allowed_format_is_accepted(s3, bucket, base_png, lambda_context, fmt):
    data = image_factory.reencode(base_png, fmt)
    key = f"incoming/photo.{fmt.lower()}"
    put(s3, bucket, key, data)

    result = invoke(handler, event_for(bucket, key), lambda_context)

    assert result["valid"] is True
    assert result["source_format"] == fmt
    assert decode_payload(result).size == Image.open(io.BytesIO(data)).size


@pytest.mark.parametrize("max_side", [None, "128", "32"])
def test_large_photo_gives_a_tiny_state_payload(s3, bucket, large_jpeg, lambda_context, monkeypatch, max_side):
    if max_side:
        monkeypatch.setenv("PAYLOAD_MAX_SIDE", max_side)
    side = int(max_side or 64)
    key = "incoming/big photo.jpg"
    put(s3, bucket, key, large_jpeg)

    result = invoke(handler, event_for(bucket, key), lambda_context)

    assert result["valid"] is True
    assert (result["source_width"], result["source_height"]) == Image.open(io.BytesIO(large_jpeg)).size
    assert result["source_bytes"] == len(large_jpeg)
    payload = decode_payload(result)
    assert max(payload.size) == side
    src_w, src_h = result["source_width"], result["source_height"]
    assert payload.size[1] == pytest.approx(side * src_h / src_w, abs=1)  # aspect ratio kept
    output_size = len(json.dumps(result).encode())
    assert output_size < STATE_LIMIT_BYTES // 4, f"state payload is {output_size} bytes"


def test_payload_byte_budget_wins_over_a_large_side(s3, bucket, large_jpeg, lambda_context, monkeypatch):
    monkeypatch.setenv("PAYLOAD_MAX_SIDE", "512")  # a noisy 512 px PNG would be ~700 KB
    put(s3, bucket, "incoming/noisy.jpg", large_jpeg)

    result = invoke(handler, event_for(bucket, "incoming/noisy.jpg"), lambda_context)

    png = base64.b64decode(result["image_data"])
    assert len(png) <= 48 * 1024
    assert 8 <= max(decode_payload(result).size) < 512
    assert len(json.dumps(result).encode()) < STATE_LIMIT_BYTES // 3


def test_exif_orientation_is_applied(s3, bucket, lambda_context):
    data = image_factory.jpeg_with_orientation(64, 32, orientation=6)  # stored landscape, displayed portrait
    put(s3, bucket, "incoming/rotated.jpg", data)

    result = invoke(handler, event_for(bucket, "incoming/rotated.jpg"), lambda_context)

    assert (result["source_width"], result["source_height"]) == (64, 32)
    assert decode_payload(result).size == (32, 64)


def test_multi_picture_jpeg_is_a_jpeg(s3, bucket, lambda_context):
    data = image_factory.multi_picture_jpeg(80, 60)
    assert Image.open(io.BytesIO(data)).format == "MPO"
    put(s3, bucket, "incoming/phone.jpg", data)

    result = invoke(handler, event_for(bucket, "incoming/phone.jpg"), lambda_context)

    assert result["valid"] is True and result["source_format"] == "JPEG"
    payload = decode_payload(result)
    assert payload.size == (64, 48)
    r, g, b = payload.getpixel((32, 24))
    assert b > 150 and r < 40  # the first (blue) frame, not the appended black one


def test_sixteen_bit_greyscale_is_scaled_not_clipped(s3, bucket, lambda_context):
    put(s3, bucket, "incoming/grey16.png", image_factory.sixteen_bit_grey_png())

    result = invoke(handler, event_for(bucket, "incoming/grey16.png"), lambda_context)

    assert set(decode_payload(result).tobytes()) == {128}


def test_transparency_is_composited_onto_white(s3, bucket, lambda_context):
    put(s3, bucket, "incoming/clear.png", image_factory.transparent_png(16))

    result = invoke(handler, event_for(bucket, "incoming/clear.png"), lambda_context)

    payload = decode_payload(result)
    assert payload.tobytes() == b"\xff" * (3 * payload.width * payload.height)


def test_output_carries_no_source_metadata(s3, bucket, base_png, lambda_context):
    big_profile = b"\x00" * 200_000  # an ICC profile this size would blow the state limit if copied
    with Image.open(io.BytesIO(base_png)) as img:
        data = image_factory.encode(img.convert("RGB"), "JPEG", icc_profile=big_profile)
    put(s3, bucket, "incoming/with-profile.jpg", data)

    result = invoke(handler, event_for(bucket, "incoming/with-profile.jpg"), lambda_context)

    assert result["valid"] is True
    assert "icc_profile" not in decode_payload(result).info
    assert len(result["image_data"]) < 20_000


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize(
    "key",
    [
        "incoming/my photo (1).png",
        "incoming/v\u00e9lo \u00e9lectrique \U0001f6b2 \u6469\u6258.png",
        "incoming/../outside/../bike.png",
        "incoming/./a/../b/bike.png",
        "incoming/a+b.png",
        "incoming/100%.png",
        "incoming/already%20encoded.png",
    ],
)
def test_unusual_but_legitimate_keys(s3, bucket, base_png, lambda_context, key):
    put(s3, bucket, key, base_png)

    result = invoke(handler, event_for(bucket, key), lambda_context)

    assert result["valid"] is True
    assert result["key"] == key
    assert_unchanged(s3, bucket, key, base_png)


@pytest.mark.parametrize(
    "stored_key",
    ["incoming/my photo (1)+x.png", "incoming/v\u00e9lo \u00e9lectrique.png", "incoming/a&b=c?.png"],
)
def test_url_encoded_event_key_is_decoded(s3, bucket, base_png, lambda_context, stored_key):
    put(s3, bucket, stored_key, base_png)
    event_key = urllib.parse.quote_plus(stored_key, safe="/")
    assert event_key != stored_key

    result = invoke(handler, event_for(bucket, event_key), lambda_context)

    assert result["valid"] is True
    assert result["key"] == stored_key


def test_event_version_id_selects_that_version(s3, bucket, base_png, lambda_context):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = put(s3, bucket, "incoming/v.png", base_png)
    put(s3, bucket, "incoming/v.png", image_factory.TEXT_AS_PNG)  # newer version is garbage

    result = invoke(handler, event_for(bucket, "incoming/v.png", version_id=first["VersionId"]), lambda_context)

    assert result["valid"] is True
    assert result["version_id"] == first["VersionId"]
    assert result["etag"] == first["ETag"].strip('"')


# ---------------------------------------------------------------- invalid images


EXPECTED_REASON_FRAGMENT = {
    "empty.png": "empty (0 bytes)",
    "text-named.png": "not a recognised image (it looks like text)",
    "random-bytes.jpg": "not a recognised image (binary data of no known format, first bytes 0708090a0b0c0d0e)",
    "truncated.png": "PNG data is truncated: the file ends inside its IDAT chunk",
    "truncated-header.png": "PNG data is truncated: the file ends inside its IHDR chunk, before the chunk's checksum",
    "truncated.jpg": "JPEG data is truncated: the file ends without its end-of-image marker (EOI): it was cut off",
    "truncated.webp": "WEBP data is truncated: the file is",
    "corrupt.png": "PNG data is corrupt: chunk IDAT at byte",
    "bomb.png": "declares 400000000 pixels, above the limit of 40000000",
    "animation.gif": "GIF images are not supported",
    "bitmap.bmp": "BMP images are not supported",
    "scan.tiff": "TIFF images are not supported",
    "photo.heic": "HEIC images are not supported",
    "zero-width.png": "PNG data is corrupt: the image header declares a width of 0 pixels",
    "two-bytes.png": "not a recognised image (only 2 bytes, too short to be an image)",
    "signature-only.png": "PNG data is truncated: the file ends right after its 8-byte PNG signature",
}


@pytest.fixture(scope="module")
def bad_files(base_png):
    files = image_factory.bad_files(base_png)
    assert set(files) == set(EXPECTED_REASON_FRAGMENT)
    return files


@pytest.mark.parametrize("name", sorted(EXPECTED_REASON_FRAGMENT))
def test_bad_files_are_quarantine_outcomes(s3, bucket, bad_files, lambda_context, name):
    data, reason_code = bad_files[name]
    key = f"incoming/driver 7/{name}"
    put(s3, bucket, key, data)
    before = datetime.now(timezone.utc) - timedelta(seconds=1)

    result = invoke(handler, event_for(bucket, key), lambda_context)

    assert result["valid"] is False
    assert result["reason_code"] == reason_code
    assert reason_code in REASON_CODES
    assert EXPECTED_REASON_FRAGMENT[name] in result["reason"]
    assert result["reason"].isascii() and "\n" not in result["reason"]
    assert key not in result["reason"] and name not in result["reason"]
    assert (result["bucket"], result["key"]) == (bucket, key)
    assert result["etag"] == s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    version_id = s3.head_object(Bucket=bucket, Key=key).get("VersionId")
    folder = f"quarantine/driver 7/{name}/{upload_id(key, version_id, result['etag'])}/"
    assert (result["quarantine_key"], result["reason_key"]) == (folder + "upload", folder + "reason.json")
    assert result["copy_source"] == f"{bucket}/incoming/driver%207/{urllib.parse.quote(name)}" + (
        f"?versionId={version_id}" if version_id else "")
    record = result["reason_record"]
    assert {k: record[k] for k in ("bucket", "key", "version_id", "etag", "reason_code", "reason")} == {
        "bucket": bucket, "key": key, "version_id": version_id, "etag": result["etag"], "reason_code": reason_code,
        "reason": result["reason"]}
    detected = datetime.fromisoformat(record["detected_at"].replace("Z", "+00:00"))
    assert detected.tzinfo is not None and before <= detected <= datetime.now(timezone.utc)
    assert "image_data" not in result
    assert_unchanged(s3, bucket, key, data)


def test_quarantine_contract_works_with_s3_copy_for_awkward_keys(s3, bucket, lambda_context):
    """Do what the state machine does with the outcome: CopyObject + PutObject(reason record + metadata)."""
    key = "incoming/../r\u00e9sum\u00e9 50% off+more/\U0001f6b2 bike.png"
    put(s3, bucket, key, image_factory.TEXT_AS_PNG)

    result = invoke(handler, event_for(bucket, key), lambda_context)

    def send_copy_source_verbatim(request, **_):
        # Step Functions' aws-sdk:s3:copyObject sends CopySource as given (it must be URL-encoded);
        # boto3 would quote a string itself, so put the contract value into the header directly.
        request.headers["x-amz-copy-source"] = result["copy_source"]

    s3.meta.events.register("before-sign.s3.CopyObject", send_copy_source_verbatim)
    s3.copy_object(Bucket=bucket, Key=result["quarantine_key"], CopySource={"Bucket": bucket, "Key": "placeholder"},
                   Metadata={"reason-code": result["reason_code"], "reason": result["reason"]},
                   MetadataDirective="REPLACE")
    s3.put_object(Bucket=bucket, Key=result["reason_key"], Body=json.dumps(result["reason_record"]).encode())
    quarantined = s3.get_object(Bucket=bucket, Key=result["quarantine_key"])
    assert quarantined["Body"].read() == image_factory.TEXT_AS_PNG
    assert quarantined["Metadata"]["reason"] == result["reason"]
    assert result["quarantine_key"].startswith("quarantine/")
    stored_record = json.loads(s3.get_object(Bucket=bucket, Key=result["reason_key"])["Body"].read())
    assert stored_record["key"] == key and stored_record["reason_code"] == "not_an_image"


def test_oversize_object_is_refused_without_download(s3, bucket, base_png, lambda_context, monkeypatch):
    limit = len(base_png) - 1
    monkeypatch.setenv("MAX_IMAGE_BYTES", str(limit))
    put(s3, bucket, "incoming/big.png", base_png)
    gets = count_calls(s3, "GetObject")

    result = invoke(handler, event_for(bucket, "incoming/big.png"), lambda_context)

    assert result["valid"] is False
    assert result["reason_code"] == "too_large"
    assert f"{len(base_png)} bytes, above the limit of {limit} bytes" in result["reason"]
    assert gets == []
    assert_unchanged(s3, bucket, "incoming/big.png", base_png)


def test_pixel_limit_comes_from_env(s3, bucket, large_jpeg, lambda_context, monkeypatch):
    monkeypatch.setenv("MAX_IMAGE_PIXELS", "1000000")  # the 12 MP photo is then a "bomb"
    put(s3, bucket, "incoming/big.jpg", large_jpeg)

    result = invoke(handler, event_for(bucket, "incoming/big.jpg"), lambda_context)

    assert result["reason_code"] == "decompression_bomb"
    assert "above the limit of 1000000 pixels" in result["reason"]


@pytest.mark.parametrize("memory_mb, outcome", [("256", "too_large_to_decode"), ("1024", None)])
def test_decoding_budget_comes_from_the_function_memory(s3, bucket, lambda_context, memory_mb, outcome):
    """Lambda passes memory_limit_in_mb as a string; the budget is what that memory leaves for decoding."""
    tall = image_factory.streamed_png(1, 5_000_000, 6, 8)  # 20 MB of pixels, 40 MB of row pointers
    put(s3, bucket, "incoming/tall.png", tall)
    lambda_context.memory_limit_in_mb = memory_mb

    result = invoke(handler, event_for(bucket, "incoming/tall.png"), lambda_context)

    if outcome is None:
        assert result["valid"] is True and (result["source_width"], result["source_height"]) == (1, 5_000_000)
    else:
        assert (result["valid"], result["reason_code"]) == (False, outcome)
        assert result["reason"] == ("PNG of 1 x 5000000 RGBA pixels needs about 106 MiB to decode, above the "
                                    "57 MiB this function may use for decoding (set by its memory size)")


def test_allowed_formats_come_from_env(s3, bucket, base_png, lambda_context, monkeypatch):
    monkeypatch.setenv("ALLOWED_FORMATS", "png")
    put(s3, bucket, "incoming/p.jpg", image_factory.reencode(base_png, "JPEG"))
    put(s3, bucket, "incoming/p.png", base_png)

    refused = invoke(handler, event_for(bucket, "incoming/p.jpg"), lambda_context)
    accepted = invoke(handler, event_for(bucket, "incoming/p.png"), lambda_context)

    assert refused["reason_code"] == "unsupported_format"
    assert refused["reason"] == "JPEG images are not supported; allowed formats: PNG"
    assert accepted["valid"] is True


def test_custom_prefixes(s3, bucket, lambda_context, monkeypatch, iam, roles_for):
    monkeypatch.setenv("INCOMING_PREFIX", "uploads/")
    monkeypatch.setenv("QUARANTINE_PREFIX", "rejected/images/")
    iam.roles = roles_for(incoming_prefix="uploads/", quarantine_prefix="rejected/images/")
    put(s3, bucket, "uploads/x/y.png", b"")
    put(s3, bucket, "elsewhere/z.png", b"")

    inside = invoke(handler, event_for(bucket, "uploads/x/y.png"), lambda_context)
    assert inside["quarantine_key"].startswith("rejected/images/x/y.png/")
    # Outside its prefix the function may read nothing (the upload rule never sends it there).
    with pytest.raises(ClientError, match="AccessDenied"):
        invoke(handler, event_for(bucket, "elsewhere/z.png"), lambda_context)
    assert {r.action for d in iam.take_denials() for r in d.denied} == {"s3:GetObject"}


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ({}, "invalid event: 'bucket': Field required; 'key': Field required"),
        ({"bucket": "b"}, "'key': Field required"),
        ({"key": "incoming/a.png"}, "'bucket': Field required"),
        ({"bucket": "", "key": "incoming/a.png"}, "'bucket': must not be empty or blank, got ''"),
        ({"bucket": "b", "key": "   "}, "'key': must not be empty or blank, got '   '"),
        ({"bucket": 5, "key": "incoming/a.png"}, "'bucket': Input should be a valid string, got 5"),
        ({"bucket": "b", "key": ["k"]}, "'key': Input should be a valid string, got ['k']"),
        ({"bucket": "b", "key": "k", "size": "12"}, "'size': Input should be a valid integer, got '12'"),
        ({"bucket": "b", "key": "k", "size": -1}, "'size': Input should be greater than or equal to 0, got -1"),
        ({"bucket": "b", "key": "k", "etag": 12}, "'etag': Input should be a valid string, got 12"),
        (["bucket", "key"], "invalid event: payload: Input should be a valid dictionary"),
        (None, "invalid event: payload: Input should be a valid dictionary"),
    ],
)
@pytest.mark.filterwarnings("error")
def test_invalid_events_raise_invalid_event_error(s3, lambda_context, event, fragment):
    calls = count_calls(s3)

    with pytest.raises(InvalidEventError) as excinfo:
        handler(event, lambda_context)

    assert fragment in str(excinfo.value)
    assert calls == []


def test_missing_object_raises_image_not_found(s3, bucket, lambda_context):
    with pytest.raises(ImageNotFoundError) as excinfo:
        handler(event_for(bucket, "incoming/nope.png"), lambda_context)
    assert str(excinfo.value) == f"image s3://{bucket}/incoming/nope.png not found"


def test_missing_encoded_key_reports_both_attempts(s3, bucket, lambda_context):
    heads = count_calls(s3, "HeadObject")
    with pytest.raises(ImageNotFoundError) as excinfo:
        handler(event_for(bucket, "incoming/no+such%21file.png"), lambda_context)
    assert "incoming/no+such%21file.png" in str(excinfo.value)
    assert "also tried the URL-decoded key 'incoming/no such!file.png'" in str(excinfo.value)
    assert [c["Key"] for c in heads] == ["incoming/no+such%21file.png", "incoming/no such!file.png"]


def test_missing_bucket_raises_image_not_found(s3, lambda_context):
    with pytest.raises(ImageNotFoundError) as excinfo:
        handler(event_for("no-such-bucket-scones", "incoming/a.png"), lambda_context)
    assert "no-such-bucket-scones" in str(excinfo.value)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("MAX_IMAGE_BYTES", "ten", "MAX_IMAGE_BYTES must be an integer, got 'ten'"),
        ("MAX_IMAGE_PIXELS", "0", "MAX_IMAGE_PIXELS must be between 1024 and 89478485, got 0"),
        ("PAYLOAD_MAX_SIDE", "1024", "PAYLOAD_MAX_SIDE must be between 16 and 512, got 1024"),
        ("PAYLOAD_MAX_BYTES", "300000", "PAYLOAD_MAX_BYTES must be between 4096 and 98304, got 300000"),
        ("ALLOWED_FORMATS", "PNG,NOPE", "'NOPE', which is not an image format Pillow can read"),
        ("QUARANTINE_PREFIX", "", "environment variable QUARANTINE_PREFIX is not set"),
    ],
)
def test_bad_configuration_is_reported(s3, bucket, base_png, lambda_context, monkeypatch, name, value, fragment):
    monkeypatch.setenv(name, value)
    put(s3, bucket, "incoming/a.png", base_png)
    with pytest.raises(ConfigurationError) as excinfo:
        handler(event_for(bucket, "incoming/a.png"), lambda_context)
    assert fragment in str(excinfo.value)


# ---------------------------------------------------------------- observability


def test_emf_metrics_for_accepted_and_quarantined_images(s3, bucket, base_png, lambda_context, emf):
    put(s3, bucket, "incoming/good.png", base_png)
    put(s3, bucket, "incoming/bad.png", image_factory.truncated(base_png))
    emf()  # discard anything printed so far

    invoke(handler, event_for(bucket, "incoming/good.png"), lambda_context)
    good = emf()
    invoke(handler, event_for(bucket, "incoming/bad.png"), lambda_context)
    bad = emf()

    assert len(good) == 1
    assert good[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SconesUnlimited"
    assert emf_metric_names(good[0]) == {"ImagesReceived", "ImagesQuarantined"}
    assert (emf_values(good[0], "ImagesReceived"), emf_values(good[0], "ImagesQuarantined")) == ([1], [0])
    assert good[0]["service"] == serialize_handler.observability.service

    by_reason = [r for r in emf_records_with(bad, "ImagesQuarantined") if "ReasonCode" in r]
    assert len(by_reason) == 1
    assert by_reason[0]["ReasonCode"] == "truncated_image"
    assert emf_values(by_reason[0], "ImagesQuarantined") == [1]
    assert ["service", "ReasonCode"] in emf_dimension_sets(by_reason[0])
    main = [r for r in bad if "ImagesReceived" in emf_metric_names(r)]
    assert len(main) == 1 and main[0]["reason_code"] == "truncated_image"
    assert emf_values(main[0], "ImagesQuarantined") == [1]
    assert emf_dimension_sets(main[0]) == [["service"]]  # ReasonCode must not split ImagesReceived


@pytest.mark.filterwarnings("error")
def test_not_found_emits_metric_and_no_warning(s3, bucket, lambda_context, emf):
    emf()
    with pytest.raises(ImageNotFoundError):
        handler(event_for(bucket, "incoming/gone.png"), lambda_context)
    records = emf()
    assert len(records) == 1
    assert emf_values(records[0], "ImagesNotFound") == [1]


def test_logs_carry_execution_id_and_key(s3, bucket, base_png, lambda_context, captured_logs):
    records = captured_logs(serialize_handler)
    key = "incoming/caf\u00e9 bike.png"
    put(s3, bucket, key, base_png)

    invoke(handler, event_for(bucket, key, execution_id="exec-42"), lambda_context)

    lines = records()
    accepted = [r for r in lines if r["message"] == "image accepted"]
    assert len(accepted) == 1
    assert accepted[0]["correlation_id"] == "exec-42"
    assert accepted[0]["image_key"] == key
    assert accepted[0]["function_request_id"] == lambda_context.aws_request_id
    assert "image_data" not in json.dumps(lines)
