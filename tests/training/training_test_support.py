"""Shared test support: the tiny training config and image-bytes builders (real encoders, no canned bytes)."""
from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

from training.trainer import TrainConfig

# Small enough to train in a few seconds on one thread, big enough to clearly beat chance.
TINY_CONFIG = TrainConfig(width=8, epochs=5, batch_size=64, threads=1, seed=0)


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG whose header declares width x height pixels (a few hundred bytes on the wire)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + 3 * 64) * 64)  # a little real pixel data; never reached
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def write_labels_folder(root, examples) -> "object":
    """A reviewer-labels folder in the `scones_contracts.labels` layout, written through its own helpers:
    `examples` = [(review id, class name, image bytes), ...]; returns root."""
    from pathlib import Path

    from scones_contracts.labels import fragment_row, image_extension, image_path, list_path

    root = Path(root)
    for review_id, label, data in examples:
        name = image_path(review_id, image_extension(data))
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
        (root / list_path(review_id)).parent.mkdir(parents=True, exist_ok=True)
        (root / list_path(review_id)).write_text(fragment_row(review_id, label, name))
    return root
