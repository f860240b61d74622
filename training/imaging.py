"""Decode any supported image and turn it into the network's input.

Training data, evaluation and the endpoint all go through `prepare_image`, so a photo is seen
the same way everywhere. Steps: decode with Pillow (PNG/JPEG/WebP only) -> refuse decompression
bombs before pixels are decoded -> apply EXIF orientation -> composite transparency onto white
-> RGB -> resize to 32x32 -> normalise.

Resize: the whole frame is squashed to 32x32 (aspect ratio not kept) with Pillow's antialiased
BICUBIC filter. CIFAR images are tight crops of the vehicle, so keeping the whole frame beats a
centre crop that can cut off wheels; bicubic with a filter support scaled to the reduction
factor avoids the aliasing a nearest/bilinear shrink of a 4000 px photo would produce. Large
JPEGs are first decoded at a reduced DCT scale (`draft`), which is much faster and equivalent
in quality at 32 px.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from PIL import Image, ImageOps

from training.constants import INPUT_SIZE, NORMALIZE_MEAN, NORMALIZE_STD

SUPPORTED_FORMATS = ("PNG", "JPEG", "WEBP")
MAX_INPUT_PIXELS = 40_000_000  # ~ a 7000x5700 photo; anything larger is refused before decoding
MAX_INPUT_BYTES = 20 * 1024 * 1024


class ImageDecodeError(ValueError):
    """The bytes are not a usable image (empty, unknown format, truncated, corrupt)."""


class ImageTooLargeError(ImageDecodeError):
    """The image is larger than we are willing to decode (decompression bomb guard)."""


def decode_image(data: bytes) -> Image.Image:
    """Open and fully decode `data` as a PNG/JPEG/WebP image, refusing oversized ones."""
    if not data:
        raise ImageDecodeError("empty request body: expected image bytes")
    if len(data) > MAX_INPUT_BYTES:
        raise ImageTooLargeError(f"image body is {len(data)} bytes; the limit is {MAX_INPUT_BYTES}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
            width, height = image.size
            if width * height > MAX_INPUT_PIXELS:
                raise ImageTooLargeError(
                    f"image is {width}x{height} = {width * height} pixels; the limit is {MAX_INPUT_PIXELS}")
            if image.format == "JPEG":
                image.draft("RGB", (INPUT_SIZE * 4, INPUT_SIZE * 4))
            image.load()
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"image refused as a decompression bomb: {exc}") from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageDecodeError(
            f"not a decodable image (supported formats: {', '.join(SUPPORTED_FORMATS)})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDecodeError(f"image data is truncated or corrupt: {exc}") from exc
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Upright RGB: EXIF orientation applied, any transparency composited onto white."""
    image = ImageOps.exif_transpose(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB") if image.mode != "RGB" else image


def resize_to_input(image: Image.Image, size: int = INPUT_SIZE) -> Image.Image:
    """Squash the whole frame to size x size (antialiased bicubic); no-op at the right size."""
    if image.size == (size, size):
        return image
    return image.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)


def prepare_image(data: bytes, size: int = INPUT_SIZE) -> np.ndarray:
    """Image bytes -> uint8 array (size, size, 3), upright RGB on white."""
    image = decode_image(data)
    try:
        array = np.array(resize_to_input(to_rgb(image), size), dtype=np.uint8)  # writable copy
    except (OSError, ValueError) as exc:
        raise ImageDecodeError(f"image data is truncated or corrupt: {exc}") from exc
    return array


_MEAN = torch.tensor(NORMALIZE_MEAN).view(1, 3, 1, 1)
_STD = torch.tensor(NORMALIZE_STD).view(1, 3, 1, 1)


def normalize(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float32 normalised with the fixed CIFAR-100 statistics."""
    return (images_uint8.float().div_(255.0) - _MEAN) / _STD


def to_input_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) array -> normalised float tensor (1, 3, H, W)."""
    return normalize(torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).unsqueeze(0))
