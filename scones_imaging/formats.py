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


# Files people upload by mistake, named so the reason says what the file is.
_OTHER_FILES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "an executable program"),
    (b"MZ", "a Windows executable"),
    (b"OggS", "an Ogg audio or video file"),
    (b"ID3", "an MP3 audio file"),
    (b"fLaC", "a FLAC audio file"),
    (b"\x1aE\xdf\xa3", "a Matroska/WebM video"),
)
_VIDEO_BRANDS = (b"isom", b"iso2", b"mp41", b"mp42", b"M4V ", b"M4A ", b"qt  ", b"3gp4", b"3gp5", b"avc1", b"dash")
_TEXT_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
# No complete PNG, JPEG or WebP file is this short.
SHORTEST_IMAGE_BYTES = 26


def describe_unknown(data: bytes) -> str:
    """What unrecognised bytes look like, for a rejection reason (never the bytes themselves)."""
    if len(data) < SHORTEST_IMAGE_BYTES:
        return f"only {len(data)} byte{'s' if len(data) != 1 else ''}, too short to be an image"
    for magic, what in _OTHER_FILES:
        if data.startswith(magic):
            return f"it looks like {what}"
    if data[4:8] == b"ftyp" and data[8:12] in _VIDEO_BRANDS:
        return "it looks like an MP4/QuickTime video"
    if data[:4] == b"RIFF" and data[8:12] in (b"WAVE", b"AVI "):
        return "it looks like " + ("a WAV audio file" if data[8:12] == b"WAVE" else "an AVI video")
    text = _as_text(data[:512])
    if text is not None:
        return f"it looks like {_text_kind(text)}"
    if not data.strip(b"\x00"):
        return f"all {len(data)} bytes are zero"
    return f"binary data of no known format, first bytes {data[:8].hex()}"


def _as_text(head: bytes) -> str | None:
    encoding = next((enc for bom, enc in _TEXT_BOMS if head.startswith(bom)), "utf-8")
    for cut in range(4):  # the 512-byte window may end inside a multi-byte character
        try:
            text = head[:len(head) - cut].decode(encoding).lstrip("\ufeff")
            break
        except UnicodeDecodeError:
            continue
    else:
        return None
    return text if text and all(ch.isprintable() or ch in "\r\n\t" for ch in text) else None


def _text_kind(text: str) -> str:
    head = text.lstrip().lower()
    if head.startswith(("<!doctype html", "<html")):
        return "an HTML page (text)"
    if head.startswith("<?xml") or head.startswith("<"):
        return "XML or HTML text"
    if head.startswith(("{", "[")):
        return "JSON text"
    return "text"


def pillow_format(name: str) -> str | None:
    """The Pillow format `name` stands for ("jpg" -> "JPEG"), or None if Pillow cannot read it."""
    Image.init()
    fmt = FORMAT_ALIASES.get(name.strip().upper(), name.strip().upper())
    return fmt if fmt in Image.OPEN else None
