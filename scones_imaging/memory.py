"""How much memory decoding a picture takes, known from its header before any pixel is decoded.

`decode_cost_bytes(image)` is an upper estimate of the peak extra memory of `decode_image`
followed by `upright_rgb(..., reduce_to=...)` for a parsed but not yet loaded Pillow image (after
any `draft`). It adds, measured against Pillow 12 / libjpeg-turbo / libwebp (tests check measured
peaks against it in a fresh process):

* the decoded picture as Pillow stores it: bytes per pixel of its mode (1 for 1/L/P, 2 for 16-bit
  grey, 4 for everything else: RGB is stored as 4 bytes) plus an 8-byte row pointer per row,
  which dominates for a 1-pixel-wide picture (a 1 x 40,000,000 PNG: 160 MB of pixels, 320 MB of
  row pointers);
* what the format's decoder holds at the same time: libwebp decodes into two full RGBA canvases
  of its own and Pillow copies the frame out once more (3 x 4 bytes per pixel); a progressive JPEG
  keeps every DCT coefficient (2 bytes per sample of every component at full size, even when
  drafted to a smaller scale); PNG's decoder holds two raw rows (the row and the one it is
  filtered against: 320 MB for a 40,000,000 x 1 RGBA PNG); baseline JPEG streams;
* the tiled reduction and the payload (`PIPELINE_BYTES`).
"""
from __future__ import annotations

from PIL import Image

ROW_POINTER_BYTES = 8
PIPELINE_BYTES = 48 * 1024 * 1024
_ONE_BYTE_MODES = ("1", "L", "P")
_WEBP_EXTRA_COPIES = 3
# Bits per pixel of the raw rows of a PNG, by the rawmode Pillow decodes it with (unknown: 64).
_PNG_RAW_BITS = {"1": 1, "L;2": 2, "L;4": 4, "L": 8, "P;1": 1, "P;2": 2, "P;4": 4, "P": 8, "I;16B": 16,
                 "LA": 16, "LA;16B": 32, "RGB": 24, "RGB;16B": 48, "RGBA": 32, "RGBA;16B": 64}


def bytes_per_pixel(mode: str) -> int:
    if mode in _ONE_BYTE_MODES:
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


def decode_cost_bytes(image: Image.Image, fmt: str, stored_size: tuple[int, int]) -> int:
    """Peak extra bytes to decode `image` (parsed, maybe drafted, not loaded) and reduce it.

    `stored_size` is the size the file declares (a drafted JPEG's `image.size` is already smaller).
    """
    width, height = image.size
    pixels = width * height
    cost = pixels * bytes_per_pixel(image.mode) + (height + 1) * ROW_POINTER_BYTES
    stored_pixels = stored_size[0] * stored_size[1]
    if fmt == "WEBP":
        cost += _WEBP_EXTRA_COPIES * 4 * stored_pixels
    elif fmt == "PNG":
        rawmode = image.tile[0][3] if image.tile and isinstance(image.tile[0][3], str) else ""
        cost += 2 * (-(-stored_size[0] * _PNG_RAW_BITS.get(rawmode, 64) // 8) + 1)
    elif fmt == "JPEG" and (image.info.get("progressive") or image.info.get("progression")):
        cost += 2 * stored_pixels * max(1, getattr(image, "layers", 0) or len(image.getbands()))
    return cost + PIPELINE_BYTES
