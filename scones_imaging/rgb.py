"""A decoded picture as the model and the workflow see it: upright, on white, RGB."""
from __future__ import annotations

from PIL import Image, ImageOps

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def upright_rgb(image: Image.Image) -> Image.Image:
    """EXIF orientation applied, any transparency composited onto white, 8-bit RGB."""
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not reject a decodable picture
        pass
    if image.mode.startswith("I"):  # 16/32-bit greyscale: scale to 8 bits instead of clipping to white
        image = image.point(lambda v: v * (1 / 256)).convert("L")
    elif image.mode == "F":
        image = image.convert("L")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")
