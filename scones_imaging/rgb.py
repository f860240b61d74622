"""A decoded picture as the model and the workflow see it: upright, on white, RGB.

`upright_rgb(image)` converts the whole picture. `upright_rgb(image, reduce_to=n)` first shrinks
it by an integer factor (a box filter) until its longest side is just at least `n`, tile by
tile, so a picture of any size costs only its decoded self plus a few small tiles: no full-size
RGB, RGBA or rotated copy is ever made (a 40 MP RGBA picture is 160 MB decoded, and each
full-size copy would add as much again).
"""
from __future__ import annotations

from PIL import Image, ImageOps

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
# Pixels per tile of the reduction: small enough that a tile's copies stay a few MB.
TILE_PIXELS = 1 << 20
# Carried over to the reduced picture so that its EXIF/XMP orientation is applied to it.
_ORIENTATION_INFO = ("exif", "xmp", "XML:com.adobe.xmp", "Raw profile type exif")


def upright_rgb(image: Image.Image, reduce_to: int | None = None) -> Image.Image:
    """EXIF orientation applied, any transparency composited onto white, 8-bit RGB.

    With `reduce_to`, a picture whose longest side is at least twice `reduce_to` is first reduced
    by the largest integer factor that keeps its longest side >= `reduce_to`.
    """
    factor = reduction_factor(image.size, reduce_to) if reduce_to else 1
    if factor > 1:
        rgb = _reduced_rgb(image, factor)
        rgb.info.update({k: image.info[k] for k in _ORIENTATION_INFO if k in image.info})
        return _upright(rgb)
    return _rgb(_upright(image))


def reduction_factor(size: tuple[int, int], reduce_to: int) -> int:
    return max(1, max(size) // max(1, reduce_to))


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not reject a decodable picture
        return image


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I"):  # 16/32-bit greyscale: scale to 8 bits instead of clipping to white
        image = image.point(lambda v: v * (1 / 256)).convert("L")
    elif image.mode == "F":
        image = image.convert("L")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _reduced_rgb(image: Image.Image, factor: int) -> Image.Image:
    """The picture reduced `factor` times (per axis, at most to 1 px), converted tile by tile.

    Tiles are whole multiples of the factor, so each reduces exactly to its place in the result
    (the last row/column of tiles rounds up, as `Image.reduce` does for the whole picture).
    Converting before reducing composites each pixel onto white first, as the whole-picture path does.
    """
    width, height = image.size
    fx, fy = min(factor, width), min(factor, height)
    out = Image.new("RGB", (-(-width // fx), -(-height // fy)))
    side = max(1, int(TILE_PIXELS ** 0.5))
    tile_w = fx * max(1, side // fx) if fx <= side else fx
    tile_h = fy * max(1, TILE_PIXELS // (tile_w * fy)) if tile_w * fy <= TILE_PIXELS else fy
    for top in range(0, height, tile_h):
        for left in range(0, width, tile_w):
            box = (left, top, min(width, left + tile_w), min(height, top + tile_h))
            tile = _rgb(image.crop(box))
            out.paste(tile.reduce((fx, fy)), (left // fx, top // fy))
    return out
