"""upright_rgb(..., reduce_to=n): the tiled reduction gives the pixels of the whole-picture path, and
the memory estimate knows each format's decoder."""
from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops

from scones_imaging import rgb as rgb_module
from scones_imaging.decode import ImageLimits, ImageRejected, decode_image
from scones_imaging.memory import PIPELINE_BYTES, decode_cost_bytes
from scones_imaging.rgb import reduction_factor, upright_rgb
from tests import image_factory


def whole_picture_then_reduced(image: Image.Image, factor: int) -> Image.Image:
    return upright_rgb(image).reduce(factor)


def pictures() -> dict[str, Image.Image]:
    noise = Image.effect_noise((640, 384), 60)
    rgba = Image.merge("RGBA", (noise, noise.rotate(90, expand=False), noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                                noise.point(lambda v: 255 - v)))
    palette = noise.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.info["transparency"] = 3
    return {
        "RGBA": rgba,
        "RGB": rgba.convert("RGB"),
        "LA": Image.merge("LA", (noise, noise.point(lambda v: 255 - v))),
        "P+transparency": palette,
        "1": noise.convert("1"),
        "I;16": Image.frombytes("I;16", noise.size, bytes(b for v in noise.tobytes() for b in (0, v))),
        "L": noise,
    }


@pytest.mark.parametrize("name", sorted(pictures()))
def test_tiles_give_the_whole_picture_result(name, monkeypatch):
    monkeypatch.setattr(rgb_module, "TILE_PIXELS", 64 * 64)  # many tiles, odd multiples of the factor
    image = pictures()[name]
    factor = reduction_factor(image.size, 128)
    assert factor == 5

    reduced = upright_rgb(image, reduce_to=128)

    assert reduced.mode == "RGB" and reduced.size == (128, 77)
    assert ImageChops.difference(reduced, whole_picture_then_reduced(image, factor)).getbbox() is None


def test_a_small_picture_is_not_reduced():
    image = pictures()["RGBA"].resize((200, 100))
    assert reduction_factor(image.size, 128) == 1
    assert ImageChops.difference(upright_rgb(image, reduce_to=128), upright_rgb(image)).getbbox() is None


@pytest.mark.parametrize("orientation, size", [(1, (128, 96)), (3, (128, 96)), (6, (96, 128)), (8, (96, 128))])
def test_exif_orientation_is_applied_to_the_reduced_picture(orientation, size):
    decoded = decode_image(image_factory.jpeg_with_orientation(640, 480, orientation))
    reduced = upright_rgb(decoded.image, reduce_to=128)
    assert reduced.size == size
    assert reduced.size == tuple(s // 5 for s in upright_rgb(decoded.image).size)


def test_one_pixel_wide_pictures_reduce_along_their_long_side():
    tall = Image.new("RGBA", (1, 100_000), (0, 0, 0, 0))
    reduced = upright_rgb(tall, reduce_to=128)
    assert reduced.size == (1, 129) and reduced.getpixel((0, 0)) == (255, 255, 255)  # transparent -> white


def _opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_the_estimate_counts_row_pointers_decoder_rows_and_canvases():
    tall = _opened(image_factory.streamed_png(1, 1_000_000, 6, 8))
    assert decode_cost_bytes(tall, "PNG", tall.size) == 4 * 1_000_000 + 8 * 1_000_001 + 2 * (4 + 1) + PIPELINE_BYTES
    wide = _opened(image_factory.streamed_png(1_000_000, 1, 2, 16))
    assert decode_cost_bytes(wide, "PNG", wide.size) == 4 * 1_000_000 + 16 + 2 * (6 * 1_000_000 + 1) + PIPELINE_BYTES
    webp = _opened(image_factory.lossless_webp_6320())
    assert decode_cost_bytes(webp, "WEBP", webp.size) == 16 * 6320 * 6320 + 8 * 6321 + PIPELINE_BYTES


def test_a_picture_over_the_budget_is_refused_before_decoding():
    data = image_factory.streamed_png(2000, 2000, 6, 8)
    needed = decode_cost_bytes(_opened(data), "PNG", (2000, 2000))
    assert decode_image(data, ImageLimits(memory_budget=needed)).image.size == (2000, 2000)
    with pytest.raises(ImageRejected) as refused:
        decode_image(data, ImageLimits(memory_budget=needed - 1))
    assert refused.value.reason_code == "too_large_to_decode"
    assert refused.value.reason.startswith("PNG of 2000 x 2000 RGBA pixels needs about 64 MiB to decode, above the "
                                           "64 MiB this function may use")
