"""Hostile uploads for the demo and the tests: each must be quarantined with a specific reason."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

from PIL import Image


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG that declares a huge image: a decompression bomb costs almost nothing to make."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _png_chunk(b"IEND", b""))


def write_hostile_files(folder: Path, valid_png: bytes) -> dict[str, str]:
    """Write the files; return name -> a fragment the quarantine reason must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.png").write_bytes(b"")
    (folder / "text named like a photo.png").write_text("This is a note, not a photo of a vehicle at all.\n")
    (folder / "truncated.png").write_bytes(valid_png[: len(valid_png) // 2])
    Image.new("RGB", (8, 8), "blue").save(folder / "animated.gif")
    (folder / "bomb.png").write_bytes(bomb_png())
    zero_width = struct.pack(">IIBBBBB", 0, 8, 8, 2, 0, 0, 0)
    (folder / "zero width.png").write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", zero_width)
                                           + _png_chunk(b"IDAT", zlib.compress(b"")) + _png_chunk(b"IEND", b""))
    (folder / "two bytes.jpg").write_bytes(b"\xc3\xa9")
    (folder / "signature only.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return {"empty.png": "empty", "text named like a photo.png": "not a recognised image (it looks like text)",
            "truncated.png": "truncated", "animated.gif": "GIF", "bomb.png": "decompression bomb",
            "zero width.png": "declares a width of 0 pixels", "two bytes.jpg": "only 2 bytes, too short to be an image",
            "signature only.png": "ends right after its 8-byte PNG signature"}
