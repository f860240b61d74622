"""The serialize core without AWS: format sniffing, reason strings, settings, conversion failures."""
from __future__ import annotations

import pytest

import image_factory
from lambdas.serialize import image_check
from lambdas.serialize.image_check import ImageEvent, ImageRejected, Settings, inspect_image, sniff_format


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_sniffed_format_matches_pillow(base_png, fmt):
    assert sniff_format(image_factory.reencode(base_png, fmt)) == fmt


def test_unknown_bytes_are_not_sniffed():
    assert sniff_format(image_factory.TEXT_AS_PNG) is None
    assert sniff_format(b"") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("caf\u00e9 \U0001f6b2", "caf\\xe9 \\U0001f6b2"),
        ("line one\nline two\t end", "line one line two end"),
        ("x" * 1000, "x" * 397 + "..."),
    ],
)
def test_reasons_are_bounded_single_line_ascii(text, expected):
    assert image_check.ascii_safe(text) == expected


def test_settings_from_a_mapping():
    settings = Settings.from_env({"MAX_IMAGE_BYTES": "2_000", "ALLOWED_FORMATS": " jpg , png,JPEG ",
                                  "PAYLOAD_MAX_SIDE": "32", "QUARANTINE_PREFIX": "q/"})
    assert settings.max_image_bytes == 2000
    assert settings.allowed_formats == ("JPEG", "PNG")
    assert settings.payload_max_side == 32
    assert settings.quarantine_prefix == "q/"
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize(
    ("key", "candidates"),
    [
        ("incoming/plain.png", ["incoming/plain.png"]),
        ("incoming/a+b%28c%29.png", ["incoming/a+b%28c%29.png", "incoming/a b(c).png"]),
        ("incoming/100%.png", ["incoming/100%.png"]),
    ],
)
def test_key_candidates(key, candidates):
    event = ImageEvent(bucket="b", key=key, etag=None, version_id=None, size=None, execution_id=None)
    assert event.key_candidates() == candidates


def test_conversion_failure_is_a_corrupt_image_outcome(base_png, monkeypatch):
    def explode(img):
        raise ValueError("conversion from mode XYZ to RGB not supported")

    monkeypatch.setattr(image_check, "_to_rgb", explode)
    with pytest.raises(ImageRejected) as excinfo:
        inspect_image(base_png, Settings())
    assert excinfo.value.reason_code == "corrupt_image"
    assert excinfo.value.reason == "PNG image could not be converted to RGB: conversion from mode XYZ to RGB not supported"


def test_pillow_globals_are_restored(base_png):
    from PIL import Image, ImageFile

    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    inspect_image(base_png, Settings(max_image_pixels=1234))
    with pytest.raises(ImageRejected):
        inspect_image(image_factory.decompression_bomb_png(), Settings())
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before
