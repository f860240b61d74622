"""Which format a file is, from its first bytes, before Pillow parses anything.

Used to name formats we refuse without handing them to a decoder, and to tell "the header of an
allowed format is broken" apart from "not an image at all".
"""
from __future__ import annotations

from PIL import Image

# Names people write for formats Pillow calls otherwise.
FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF"}
# Pillow names some files after a container of a format we accept: phone/camera "MPO" files are
# JPEGs with extra (depth or preview) frames appended; the JPEG decoder reads the first one.
CONTAINER_FORMATS = {"MPO": "JPEG"}

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"8BPS", "PSD"),
    (b"%PDF", "PDF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG2000"),
    (b"\xffO\xffQ", "JPEG2000"),
    (b"\xff\n", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
)
_FTYP_BRANDS = {
    b"heic": "HEIC", b"heix": "HEIC", b"hevc": "HEIC", b"heim": "HEIC", b"heis": "HEIC",
    b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF",
}


def sniff_format(data: bytes) -> str | None:
    """Best-effort container format from magic numbers (None if unknown)."""
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and data[8:12] in _FTYP_BRANDS:
        return _FTYP_BRANDS[data[8:12]]
    if data[:2] == b"BM" and len(data) >= 26 and int.from_bytes(data[2:6], "little") in (0, len(data)):
        return "BMP"
    head = data[:256].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:2048].lower()):
        return "SVG"
    return None


def describe_unknown(data: bytes) -> str:
    """What unrecognised bytes look like, for a rejection reason (never the bytes themselves)."""
    try:
        text = data[:512].decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return "the content looks like text"
    return f"first bytes are {data[:8].hex()}"


def pillow_format(name: str) -> str | None:
    """The Pillow format `name` stands for ("jpg" -> "JPEG"), or None if Pillow cannot read it."""
    Image.init()
    fmt = FORMAT_ALIASES.get(name.strip().upper(), name.strip().upper())
    return fmt if fmt in Image.OPEN else None
