"""Image bytes -> the network's input, the same way for training data, evaluation and the endpoint.

Decoding is `scones_imaging`'s (the serialize function's too): the same limits, the same checks
(format, decompression bomb, truncation) and the same upright-RGB-on-white conversion. Then the
whole frame is squashed to 32x32 (aspect ratio not kept) with Pillow's antialiased BICUBIC
filter: CIFAR images are tight crops of the vehicle, so keeping the whole frame beats a centre crop
that can cut off wheels, and bicubic with a filter support scaled to the reduction factor avoids
the aliasing a nearest/bilinear shrink of a 4000 px photo would produce. Large JPEGs are decoded at
a reduced DCT scale (`draft`), which is much faster and equivalent in quality at 32 px.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from scones_contracts.images import SIZE_REASON_CODES
from scones_imaging.decode import ImageRejected, decode_image
from scones_imaging.rgb import upright_rgb
from training.constants import INPUT_SIZE, NORMALIZE_MEAN, NORMALIZE_STD

# JPEGs decode at a reduced DCT scale no smaller than four times the input side.
DRAFT_SIDE = INPUT_SIZE * 4


class ImageDecodeError(ValueError):
    """The bytes are not a usable image (empty, unknown format, truncated, corrupt)."""


class ImageTooLargeError(ImageDecodeError):
    """The image is larger than we are willing to decode (byte limit or decompression-bomb guard)."""


def resize_to_input(image: Image.Image, size: int = INPUT_SIZE) -> Image.Image:
    """Squash the whole frame to size x size (antialiased bicubic); no-op at the right size."""
    if image.size == (size, size):
        return image
    return image.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)


def prepare_image(data: bytes, size: int = INPUT_SIZE) -> np.ndarray:
    """Image bytes -> uint8 array (size, size, 3), upright RGB on white; raises ImageDecodeError."""
    try:
        decoded = decode_image(data, draft_side=DRAFT_SIDE)
    except ImageRejected as rejection:
        error = ImageTooLargeError if rejection.reason_code in SIZE_REASON_CODES else ImageDecodeError
        raise error(rejection.reason) from None
    try:
        return np.array(resize_to_input(upright_rgb(decoded.image), size), dtype=np.uint8)  # writable copy
    except (OSError, ValueError) as exc:
        raise ImageDecodeError(f"image data is truncated or corrupt: {exc}") from exc
    finally:
        decoded.image.close()


_MEAN = torch.tensor(NORMALIZE_MEAN).view(1, 3, 1, 1)
_STD = torch.tensor(NORMALIZE_STD).view(1, 3, 1, 1)


def normalize(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float32 normalised with the fixed CIFAR-100 statistics."""
    return (images_uint8.float().div_(255.0) - _MEAN) / _STD


def to_input_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) array -> normalised float tensor (1, 3, H, W)."""
    return normalize(torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).unsqueeze(0))
