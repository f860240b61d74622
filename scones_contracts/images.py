"""The one set of limits for an uploaded image, and why an image is refused.

The serialize function applies them to uploads (the stack sets its environment from the config,
whose defaults and ranges are these) and the endpoint applies the defaults to request bodies:
both decode with `scones_imaging`, so an image is accepted or refused the same way everywhere.
"""
from __future__ import annotations

DEFAULT_MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_BYTES_RANGE = (1024, 50 * 1024 * 1024)
# ~ a 7000x5700 photo; above it Pillow refuses the image as a possible decompression bomb.
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000
# The upper bound is Pillow's own guard (PIL.Image.MAX_IMAGE_PIXELS), which refuses larger images anyway.
MAX_IMAGE_PIXELS_RANGE = (1024, 89_478_485)
IMAGE_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP")

# The rendition serialize puts into the workflow state: longest side, and a hard byte budget so
# the Step Functions state (256 KiB) stays far from full whatever the side (48 KiB of PNG = 64 KiB
# of base64; the state also carries the classification and the decision).
DEFAULT_PAYLOAD_MAX_SIDE = 64
PAYLOAD_MAX_SIDE_RANGE = (16, 512)
DEFAULT_PAYLOAD_MAX_BYTES = 48 * 1024
PAYLOAD_MAX_BYTES_RANGE = (4096, 96 * 1024)
PAYLOAD_CONTENT_TYPE = "image/png"

REASON_CODES: tuple[str, ...] = (
    "empty_object",
    "too_large",
    "not_an_image",
    "unsupported_format",
    "truncated_image",
    "decompression_bomb",
    "corrupt_image",
    "too_large_to_decode",
)
# Reasons that mean "too big to look at" rather than "not a usable image" (HTTP 413 at the endpoint).
SIZE_REASON_CODES: tuple[str, ...] = ("too_large", "decompression_bomb", "too_large_to_decode")

# The serialize function decodes within a budget derived from its configured memory: what is left
# after the runtime with its libraries loaded (83 MB RSS measured on x86 CPython 3.11; 160 MB
# leaves room for the Lambda runtime and arm64 differences) and the upload held in memory (up to
# three copies of max_image_bytes: the read buffer, the bytes, one parser copy), with 15 % kept
# back for allocator fragmentation.
FUNCTION_RESERVE_MB = 160
UPLOAD_COPIES = 3
DECODE_MEMORY_SHARE = 0.85


def decode_memory_budget(function_memory_mb: int, max_image_bytes: int) -> int:
    """Bytes the serialize function may spend decoding one image (<= 0: it cannot decode any)."""
    free = function_memory_mb * 1024 * 1024 - FUNCTION_RESERVE_MB * 1024 * 1024 - UPLOAD_COPIES * max_image_bytes
    return int(free * DECODE_MEMORY_SHARE)
