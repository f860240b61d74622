"""scones_imaging without AWS or torch: sniffing, every rejection reason, limits, the RGB conversion."""
from __future__ import annotations

import io

import pytest
from PIL import Image, ImageFile

from scones_imaging.decode import ImageLimits, ImageRejected, ascii_safe, decode_image
from scones_imaging.formats import pillow_format, sniff_format
from scones_imaging.rgb import upright_rgb
from tests import image_factory


@pytest.fixture(scope="module")
def base_png() -> bytes:
    return image_factory.labelled_images()[0].data


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_sniffed_format_matches_pillow(base_png, fmt):
    assert sniff_format(image_factory.reencode(base_png, fmt)) == fmt


def test_unknown_bytes_are_not_sniffed():
    assert sniff_format(image_factory.TEXT_AS_PNG) is None
    assert sniff_format(b"") is None


def test_format_names():
    assert pillow_format(" jpg ") == "JPEG" and pillow_format("webp") == "WEBP"
    assert pillow_format("NOPE") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("caf\u00e9 \U0001f6b2", "caf\\xe9 \\U0001f6b2"),
        ("line one\nline two\t end", "line one line two end"),
        ("x" * 1000, "x" * 397 + "..."),
    ],
)
def test_reasons_are_bounded_single_line_ascii(text, expected):
    assert ascii_safe(text) == expected


@pytest.mark.parametrize(("data", "limits", "code", "fragment"), [
    (b"", ImageLimits(), "empty_object", "object is empty"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 5000, ImageLimits(max_bytes=4096), "too_large", "above the limit of 4096 bytes"),
    (image_factory.TEXT_AS_PNG, ImageLimits(), "not_an_image", "it looks like text"),
    (image_factory.decompression_bomb_png(), ImageLimits(), "decompression_bomb", "above the limit of 40000000"),
])
def test_each_rejection_has_its_reason_code(data, limits, code, fragment):
    with pytest.raises(ImageRejected) as caught:
        decode_image(data, limits)
    assert caught.value.reason_code == code and fragment in caught.value.reason


def test_formats_outside_the_allowed_set_are_named(base_png):
    for fmt in ("GIF", "BMP", "TIFF"):
        with pytest.raises(ImageRejected) as caught:
            decode_image(image_factory.reencode(base_png, fmt))
        assert caught.value.reason_code == "unsupported_format"
        assert caught.value.reason.startswith(f"{fmt} images are not supported")
    with pytest.raises(ImageRejected, match="JPEG images are not supported; allowed formats: PNG"):
        decode_image(image_factory.reencode(base_png, "JPEG"), ImageLimits(formats=("PNG",)))


def test_truncated_files_are_told_apart_from_corrupt_ones(base_png):
    with pytest.raises(ImageRejected) as caught:
        decode_image(base_png[: len(base_png) // 2])
    assert caught.value.reason_code == "truncated_image"


def test_the_pixel_limit_is_checked_before_decoding():
    photo = image_factory.large_photo_jpeg()
    width, height = Image.open(io.BytesIO(photo)).size
    with pytest.raises(ImageRejected) as caught:
        decode_image(photo, ImageLimits(max_pixels=width * height - 1))
    assert caught.value.reason_code == "decompression_bomb"
    assert f"declares {width * height} pixels" in caught.value.reason


def test_a_decoded_image_reports_what_the_file_said(base_png):
    decoded = decode_image(image_factory.reencode(base_png, "JPEG"), draft_side=8)
    try:
        assert decoded.format == "JPEG"
        assert (decoded.source_width, decoded.source_height) == Image.open(io.BytesIO(base_png)).size
        assert decoded.image.size[0] <= decoded.source_width  # decoded at a reduced scale, never larger
    finally:
        decoded.image.close()


def test_pillow_globals_are_never_changed(base_png):
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    decode_image(base_png, ImageLimits(max_pixels=4096)).image.close()
    with pytest.raises(ImageRejected):
        decode_image(image_factory.decompression_bomb_png())
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before


def test_upright_rgb_composites_transparency_onto_white_and_scales_16_bit_grey():
    transparent = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert upright_rgb(transparent).getpixel((0, 0)) == (255, 255, 255)
    grey = Image.open(io.BytesIO(image_factory.sixteen_bit_grey_png()))
    converted = upright_rgb(grey)
    assert converted.mode == "RGB" and converted.getextrema() != ((255, 255),) * 3
