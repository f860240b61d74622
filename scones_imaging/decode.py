"""Decode untrusted image bytes safely, or say precisely why not.

Steps (the serialize function and the endpoint run exactly these, with `ImageLimits`):

1. empty -> `empty_object`; more than `max_bytes` -> `too_large` (nothing parsed yet);
2. magic numbers of a format outside `formats` -> `unsupported_format`;
3. Pillow parses the header (only `formats`); more than `max_pixels` -> `decompression_bomb`,
   before any pixel is decoded; `verify()` checks the structure (PNG CRCs, ...);
4. with `memory_budget` set: the memory decoding needs, known from the header
   (`memory.decode_cost_bytes`), above the budget -> `too_large_to_decode`, before any pixel is decoded;
5. the image is decoded in full (a JPEG at a reduced DCT scale when `draft_side` is given, which
   still reads the whole stream, so truncation shows): a short file -> `truncated_image`, other
   decoder failures -> `corrupt_image`, data that inflates beyond safe limits -> `decompression_bomb`.

Anything unusable raises :class:`ImageRejected` with a reason code from
`scones_contracts.images.REASON_CODES` and a printable-ASCII reason (it ends up in S3 metadata
and HTTP error bodies). Pillow's global settings are never changed.
"""
from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from scones_contracts.images import DEFAULT_MAX_IMAGE_BYTES, DEFAULT_MAX_IMAGE_PIXELS, IMAGE_FORMATS, REASON_CODES

from .diagnose import decoder_message, diagnose, signature_prefix
from .formats import CONTAINER_FORMATS, describe_unknown, sniff_format
from .memory import decode_cost_bytes

MAX_REASON_CHARS = 400
_BOMB_SIZE = re.compile(r"Image size \((\d+) pixels\)")
_PILLOW_OBJECT_REPR = re.compile(r"<[^>]* object at 0x[0-9a-fA-F]+>")


class ImageRejected(Exception):
    """The bytes are not an acceptable image: `reason_code` (one of REASON_CODES) and `reason`."""

    def __init__(self, reason_code: str, reason: str):
        if reason_code not in REASON_CODES:  # pragma: no cover - programming error
            raise ValueError(f"unknown reason code {reason_code!r}")
        self.reason_code = reason_code
        self.reason = ascii_safe(reason)
        super().__init__(f"{reason_code}: {self.reason}")


def ascii_safe(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """Printable-ASCII, single-line, bounded version of `text`."""
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    text = "".join(ch if 32 <= ord(ch) < 127 else " " for ch in text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    formats: tuple[str, ...] = IMAGE_FORMATS
    # Bytes decoding may take (None: unbounded); the serialize function derives it from its memory.
    memory_budget: int | None = None


@dataclass
class DecodedImage:
    """A fully decoded picture (`image`, which the caller closes) and what the file said about itself."""

    image: Image.Image
    format: str  # the Pillow format, containers named after their image format (MPO -> JPEG)
    source_width: int  # as stored, before EXIF orientation
    source_height: int


def decode_image(data: bytes, limits: ImageLimits = ImageLimits(), draft_side: int | None = None) -> DecodedImage:
    """Decode `data` following the module's steps; raises :class:`ImageRejected`."""
    allowed = limits.formats
    allowed_text = ", ".join(allowed)
    if not data:
        raise ImageRejected("empty_object", "object is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise ImageRejected("too_large", f"object is {len(data)} bytes, above the limit of {limits.max_bytes} bytes")
    sniffed = sniff_format(data)
    if sniffed is not None and sniffed not in allowed:
        raise ImageRejected("unsupported_format", f"{sniffed} images are not supported; allowed formats: {allowed_text}")

    Image.init()
    fmt: str | None = sniffed
    # Pillow reports its own bomb guard as a warning; as an error it stops the parse right there.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(allowed)) as probe:
                fmt = CONTAINER_FORMATS.get(probe.format, probe.format) or sniffed
                _check_pixels(fmt, probe.size, limits.max_pixels)
                probe.verify()
            image = Image.open(io.BytesIO(data), formats=[fmt] if fmt else list(allowed))
            width, height = image.size
            if fmt == "JPEG" and draft_side:
                image.draft("RGB", (draft_side, draft_side))
            if limits.memory_budget is not None:
                _check_memory(fmt or image.format, image, (width, height), limits.memory_budget)
            image.load()
        except ImageRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _bomb(fmt, exc, limits.max_pixels) from None
        except UnidentifiedImageError:
            raise _unidentified(data, sniffed, allowed) from None
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - decoders raise OSError/SyntaxError/ValueError/EOFError/...
            if "decompressed data too large" in str(exc).lower():
                raise _bomb(fmt, exc, limits.max_pixels) from None
            raise _broken(fmt or "image", data, exc) from None
    return DecodedImage(image=image, format=fmt or image.format, source_width=width, source_height=height)


def _check_pixels(fmt: str | None, size: tuple[int, int], limit: int) -> None:
    pixels = size[0] * size[1]
    if pixels > limit:
        raise ImageRejected("decompression_bomb", f"{fmt or 'image'} declares {pixels} pixels, above the limit of "
                                                  f"{limit} pixels: refused as a possible decompression bomb")


def _check_memory(fmt: str, image: Image.Image, stored_size: tuple[int, int], budget: int) -> None:
    needed = decode_cost_bytes(image, fmt, stored_size)
    if needed > budget:
        image.close()
        raise ImageRejected("too_large_to_decode",
                            f"{fmt} of {stored_size[0]} x {stored_size[1]} {image.mode} pixels needs about "
                            f"{_mib(needed)} MiB to decode, above the {_mib(budget)} MiB this function may use for "
                            "decoding (set by its memory size)")


def _mib(n: int) -> int:
    return -(-n // (1024 * 1024))


def _pillow_message(exc: BaseException) -> str:
    return _PILLOW_OBJECT_REPR.sub("the data", str(exc) or type(exc).__name__)


def _bomb(fmt: str | None, exc: BaseException, limit: int) -> ImageRejected:
    match = _BOMB_SIZE.search(str(exc))
    if match:
        return ImageRejected("decompression_bomb", f"{fmt or 'image'} declares {int(match.group(1))} pixels, above "
                                                   f"the limit of {limit} pixels: refused as a possible decompression bomb")
    return ImageRejected("decompression_bomb", f"{fmt or 'image'} data expands beyond safe limits, refused as a "
                                               f"possible decompression bomb: {_pillow_message(exc)}")


def _looks_truncated(fmt: str, data: bytes) -> str | None:
    """Structural evidence that an image of format `fmt` ends early (None when it looks complete)."""
    if fmt == "PNG" and b"IEND" not in data[-64:]:
        return "the file ends without its IEND chunk: it was cut off"
    if fmt == "JPEG" and not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        return "the file ends without its end-of-image marker (EOI): it was cut off"
    return None


def _broken(fmt: str, data: bytes, exc: BaseException) -> ImageRejected:
    """Why a file of format `fmt` failed to decode: its structure first, then the decoder's words."""
    finding = diagnose(fmt, data)
    if finding is not None:
        code, reason = finding
        return ImageRejected(code, f"{fmt} data is {'truncated' if code == 'truncated_image' else 'corrupt'}: {reason}")
    raw = _pillow_message(exc)
    message = decoder_message(raw)
    evidence = _looks_truncated(fmt, data)
    if evidence:
        return ImageRejected("truncated_image", f"{fmt} data is truncated: {evidence}")
    if "truncat" in raw.lower():
        return ImageRejected("truncated_image", f"{fmt} data is truncated: {message}")
    return ImageRejected("corrupt_image", f"{fmt} data is corrupt: {message}")


def _unidentified(data: bytes, sniffed: str | None, allowed: tuple[str, ...]) -> ImageRejected:
    allowed_text = ", ".join(allowed)
    if sniffed in allowed:
        # The signature of an allowed format, but its header does not parse: ask that decoder why.
        return _broken(sniffed, data, _decoder_error(sniffed, data))
    cut = signature_prefix(data)
    if cut in allowed:
        return ImageRejected("truncated_image", f"{cut} data is truncated: the file ends after {len(data)} "
                                                f"byte{'s' if len(data) != 1 else ''}, inside its signature")
    other = _identify_other(data)
    if other is not None and other not in allowed:
        return ImageRejected("unsupported_format", f"{other} images are not supported; allowed formats: {allowed_text}")
    return ImageRejected("not_an_image",
                         f"data is not a recognised image ({describe_unknown(data)}); allowed formats: {allowed_text}")


def _decoder_error(fmt: str, data: bytes) -> BaseException:
    """The specific error of `fmt`'s decoder (Image.open only says 'cannot identify image file')."""
    factory, _accept = Image.OPEN[fmt]
    try:
        factory(io.BytesIO(data), "")
    except Exception as exc:  # noqa: BLE001 - any decoder failure is the diagnosis we want
        return exc
    return UnidentifiedImageError(f"{fmt} header could not be parsed")


def _identify_other(data: bytes) -> str | None:
    """Name a format outside the allowed set with Pillow's header parsers (nothing is decoded)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                return image.format
    except Exception:  # noqa: BLE001 - not identifiable at all
        return None
