"""The small PNG of an upload that travels through the workflow state.

`render(data, settings)` decodes the upload with `scones_imaging` (the same steps and limits as
the endpoint, plus the function's decoding budget), turns it upright RGB on white, and shrinks it
to `payload_max_side` (never enlarging) and, for large noisy pictures, further until the PNG fits
`payload_max_bytes`. No metadata (ICC profile, EXIF, text chunks) is carried into the payload.

Memory: a JPEG is decoded at a reduced DCT scale; any other picture is reduced tile by tile to
about twice the payload side before anything else (`upright_rgb(..., reduce_to=...)`), so the
peak is the decoded picture plus small tiles, which the budget check bounded before decoding.
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from PIL import Image

from scones_imaging.decode import ImageRejected, decode_image
from scones_imaging.rgb import upright_rgb

from .settings import Settings

MIN_SIDE = 8
SHRINK_STEP = 0.75


@dataclass(frozen=True)
class Rendition:
    png_bytes: bytes
    source_format: str
    source_width: int
    source_height: int
    width: int
    height: int

    @property
    def base64(self) -> str:
        return base64.b64encode(self.png_bytes).decode("ascii")


def render(data: bytes, settings: Settings) -> Rendition:
    """The payload PNG of `data`; raises `ImageRejected` for anything that is not an acceptable image."""
    side = settings.payload_max_side
    # Twice the payload side (DCT scale for JPEGs, box reduction for the rest) keeps the final
    # downscale antialiased.
    decoded = decode_image(data, settings.limits, draft_side=side * 2)
    try:
        rgb = upright_rgb(decoded.image, reduce_to=side * 2)
        png = _fit(rgb, side, settings.payload_max_bytes)
    except (MemoryError, ImageRejected):
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. an exotic pixel mode that cannot become RGB
        raise ImageRejected("corrupt_image", f"{decoded.format} image could not be converted to RGB: {exc}") from None
    finally:
        decoded.image.close()
    return Rendition(png_bytes=png, source_format=decoded.format, source_width=decoded.source_width,
                     source_height=decoded.source_height, width=rgb.width, height=rgb.height)


def _fit(rgb: Image.Image, side: int, max_bytes: int) -> bytes:
    while True:
        rgb.thumbnail((side, side), Image.Resampling.LANCZOS)
        rgb.info = {}
        out = io.BytesIO()
        rgb.save(out, format="PNG", optimize=True)
        png = out.getvalue()
        if len(png) <= max_bytes or side <= MIN_SIDE:
            return png
        side = max(MIN_SIDE, int(side * SHRINK_STEP))
