"""Test images: the committed real photos plus generated good and bad files.

Used by the fixtures in ``conftest.py``; also a script that writes the bad files for manual runs
(e.g. uploading them to a local or real bucket)::

    .venv/bin/python tests/image_factory.py OUTPUT_DIR [--with-large]

Nothing large is committed: the photo-sized JPEG is generated at test time.
"""
from __future__ import annotations

import argparse
import csv
import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures" / "images"


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    label: int
    class_name: str

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()


def labelled_images() -> list[LabelledImage]:
    """The committed CIFAR-100 bicycle/motorcycle images listed in ``labels.tsv``."""
    with (FIXTURE_DIR / "labels.tsv").open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [LabelledImage(FIXTURE_DIR / r["filename"], int(r["label"]), r["class_name"]) for r in rows]


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def reencode(data: bytes, fmt: str, **params) -> bytes:
    """Re-encode image bytes as another format (JPEG/BMP drop alpha)."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        if fmt in ("JPEG", "BMP"):
            img = img.convert("RGB")
        return encode(img, fmt, **params)


def large_photo_jpeg(width: int = 4000, height: int = 3000, quality: int = 85) -> bytes:
    """A photo-sized JPEG of a few MB (noise + gradient, so it doesn't compress to nothing)."""
    red = Image.effect_noise((width, height), 40)
    green = Image.linear_gradient("L").resize((width, height))
    blue = Image.effect_noise((width, height), 20)
    return encode(Image.merge("RGB", (red, green, blue)), "JPEG", quality=quality)


def jpeg_with_orientation(width: int, height: int, orientation: int) -> bytes:
    """A JPEG whose EXIF orientation tag asks viewers to rotate it."""
    img = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", exif=exif.tobytes())


def multi_picture_jpeg(width: int = 80, height: int = 60) -> bytes:
    """An MPO file (JPEG + a second frame), as some phones and cameras write them."""
    first, second = Image.new("RGB", (width, height), (0, 90, 200)), Image.new("RGB", (width, height), "black")
    return encode(first, "MPO", save_all=True, append_images=[second])


def sixteen_bit_grey_png(size: int = 8) -> bytes:
    """16-bit greyscale PNG at half intensity: must not come out white (clipping) but mid-grey."""
    return encode(Image.new("I;16", (size, size), 32768), "PNG")


def transparent_png(size: int = 16) -> bytes:
    """Fully transparent black pixels: must end up white after compositing onto white."""
    return encode(Image.new("RGBA", (size, size), (0, 0, 0, 0)), "PNG")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def decompression_bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A ~100-byte PNG whose header declares width x height pixels (no need to deflate 1.2 GB)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def streamed_png(width: int, height: int, color_type: int = 6, bit_depth: int = 8) -> bytes:
    """A valid PNG of blank rows, deflated row by row: a 1 x 39,990,000 RGBA PNG (~200 KB) is made
    without ever holding its 200 MB of raw rows (colour type 3 gets a two-entry palette)."""
    row = b"\x00" * (1 + (width * _PNG_CHANNELS[color_type] * bit_depth + 7) // 8)
    rows_per_block = max(1, (1 << 20) // len(row))
    deflate, parts, done = zlib.compressobj(9), [], 0
    while done < height:
        count = min(rows_per_block, height - done)
        parts.append(deflate.compress(row * count))
        done += count
    parts.append(deflate.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    palette = _png_chunk(b"PLTE", b"\x00\x00\x00\xff\xff\xff") if color_type == 3 else b""
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + palette + _png_chunk(b"IDAT", b"".join(parts))
            + _png_chunk(b"IEND", b""))


def lossless_webp_6320() -> bytes:
    """A 1.7 KB lossless WebP of 6320 x 6320 RGBA pixels (committed: encoding it takes 160 MB)."""
    return (FIXTURE_DIR / "lossless-6320x6320.webp").read_bytes()


def zero_width_png() -> bytes:
    """A well-formed PNG whose header declares a width of 0 pixels."""
    ihdr = struct.pack(">IIBBBBB", 0, 8, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b""))
            + _png_chunk(b"IEND", b""))


def truncated(data: bytes, keep: float | int = 0.6) -> bytes:
    """The first part of ``data`` (a fraction, or a byte count when an int)."""
    n = keep if isinstance(keep, int) else int(len(data) * keep)
    return data[:n]


def corrupt_png(png: bytes) -> bytes:
    """Flip bytes inside the first IDAT chunk: complete file, wrong checksum / deflate stream."""
    start = png.index(b"IDAT") + 4 + 8
    out = bytearray(png)
    for i in range(start, min(start + 16, len(out) - 16)):
        out[i] ^= 0xFF
    return bytes(out)


TEXT_AS_PNG = b"This is a plain text file that somebody saved with a .png extension.\n"


def bad_files(base_png: bytes) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, expected reason_code). ``base_png`` is a real image used to derive broken ones."""
    return {
        "empty.png": (b"", "empty_object"),
        "text-named.png": (TEXT_AS_PNG, "not_an_image"),
        "random-bytes.jpg": (bytes(range(7, 250)) * 8, "not_an_image"),
        "truncated.png": (truncated(base_png, 0.6), "truncated_image"),
        "truncated-header.png": (truncated(base_png, 30), "truncated_image"),
        "truncated.jpg": (truncated(reencode(base_png, "JPEG", quality=95), 0.7), "truncated_image"),
        "truncated.webp": (truncated(reencode(base_png, "WEBP"), 0.6), "truncated_image"),
        "corrupt.png": (corrupt_png(base_png), "corrupt_image"),
        "bomb.png": (decompression_bomb_png(), "decompression_bomb"),
        "animation.gif": (reencode(base_png, "GIF"), "unsupported_format"),
        "bitmap.bmp": (reencode(base_png, "BMP"), "unsupported_format"),
        "scan.tiff": (reencode(base_png, "TIFF"), "unsupported_format"),
        "photo.heic": (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "unsupported_format"),
        "zero-width.png": (zero_width_png(), "corrupt_image"),
        "two-bytes.png": (b"\xc3\xa9", "not_an_image"),
        "signature-only.png": (b"\x89PNG\r\n\x1a\n", "truncated_image"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--with-large", action="store_true", help="also write a 4000x3000 JPEG (a few MB)")
    args = parser.parse_args(argv)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    base = labelled_images()[0].data
    for name, (data, reason_code) in bad_files(base).items():
        (args.output_dir / name).write_bytes(data)
        print(f"{name}\t{len(data)} bytes\texpected {reason_code}")
    if args.with_large:
        (args.output_dir / "large-photo.jpg").write_bytes(large_photo_jpeg())
        print("large-photo.jpg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
