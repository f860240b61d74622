"""Pure core of the serialize function: event parsing, image validation and normalisation.

Nothing in here talks to AWS, so it is unit-testable on its own. The handler feeds it the bytes it
read from S3 and turns the result (or an :class:`ImageRejected`) into the state machine payload.

Typed exceptions raised to the state machine (Lambda reports ``errorType`` = class name):

* :class:`InvalidEventError` - the execution input is malformed (missing/empty bucket or key, wrong types).
* :class:`ImageNotFoundError` - the object does not exist (after the URL-decoded key retry).
* :class:`ConfigurationError` - an environment variable has an invalid value.

An invalid *image* is not an exception for the state machine: the core raises the internal
:class:`ImageRejected` (reason_code + ASCII reason), which the handler turns into ``{"valid": false, ...}``.
"""
from __future__ import annotations

import base64
import io
import os
import re
import urllib.parse
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


class SerializeError(Exception):
    """Base class of the errors the serialize function raises to the state machine."""


class InvalidEventError(SerializeError):
    """The execution input is not a valid ``{"bucket", "key", ...}`` object."""


class ImageNotFoundError(SerializeError):
    """The S3 object named by the event does not exist (as given nor URL-decoded)."""


class ConfigurationError(SerializeError):
    """An environment variable of the function has an invalid value."""


REASON_CODES = (
    "empty_object",
    "too_large",
    "not_an_image",
    "unsupported_format",
    "truncated_image",
    "decompression_bomb",
    "corrupt_image",
)

MAX_REASON_CHARS = 400


class ImageRejected(Exception):
    """The object exists but is not an acceptable image. Internal: becomes a ``valid: false`` outcome."""

    def __init__(self, reason_code: str, reason: str):
        if reason_code not in REASON_CODES:  # pragma: no cover - programming error
            raise ValueError(f"unknown reason code {reason_code!r}")
        self.reason_code = reason_code
        self.reason = ascii_safe(reason)
        super().__init__(f"{reason_code}: {self.reason}")


def ascii_safe(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """Printable-ASCII, single-line, bounded version of ``text`` (it ends up in S3 user metadata)."""
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    text = "".join(ch if 32 <= ord(ch) < 127 else " " for ch in text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text


# --------------------------------------------------------------------------------------------------
# Settings (environment)
# --------------------------------------------------------------------------------------------------

DEFAULT_MAX_IMAGE_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000
DEFAULT_ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")
DEFAULT_PAYLOAD_MAX_SIDE = 64
MAX_PAYLOAD_SIDE_LIMIT = 512
# Hard budget for the PNG in the payload, whatever PAYLOAD_MAX_SIDE says: a 512 px photo can be ~1 MB
# of PNG, so the rendition is shrunk until it fits. 48 KiB of PNG = 64 KiB of base64, far below the
# 256 KiB Step Functions state limit (the state also carries the classification and decision).
DEFAULT_PAYLOAD_MAX_BYTES = 48 * 1024
MAX_PAYLOAD_BYTES_LIMIT = 96 * 1024
DEFAULT_INCOMING_PREFIX = "incoming/"
DEFAULT_QUARANTINE_PREFIX = "quarantine/"

_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF"}
# Pillow names some files after a container of a format we accept: phone/camera "MPO" files are
# JPEGs with extra (e.g. depth or preview) frames appended; the JPEG decoder reads the first one.
_CONTAINER_FORMATS = {"MPO": "JPEG"}


@dataclass(frozen=True)
class Settings:
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    allowed_formats: tuple[str, ...] = DEFAULT_ALLOWED_FORMATS
    payload_max_side: int = DEFAULT_PAYLOAD_MAX_SIDE
    payload_max_bytes: int = DEFAULT_PAYLOAD_MAX_BYTES
    incoming_prefix: str = DEFAULT_INCOMING_PREFIX
    quarantine_prefix: str = DEFAULT_QUARANTINE_PREFIX

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            max_image_bytes=_int_env(env, "MAX_IMAGE_BYTES", DEFAULT_MAX_IMAGE_BYTES, minimum=1),
            max_image_pixels=_int_env(env, "MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS, minimum=1),
            allowed_formats=_formats_env(env, "ALLOWED_FORMATS", DEFAULT_ALLOWED_FORMATS),
            payload_max_side=_int_env(
                env, "PAYLOAD_MAX_SIDE", DEFAULT_PAYLOAD_MAX_SIDE, minimum=8, maximum=MAX_PAYLOAD_SIDE_LIMIT
            ),
            payload_max_bytes=_int_env(
                env, "PAYLOAD_MAX_BYTES", DEFAULT_PAYLOAD_MAX_BYTES, minimum=4096, maximum=MAX_PAYLOAD_BYTES_LIMIT
            ),
            incoming_prefix=env.get("INCOMING_PREFIX", DEFAULT_INCOMING_PREFIX),
            quarantine_prefix=_prefix_env(env, "QUARANTINE_PREFIX", DEFAULT_QUARANTINE_PREFIX),
        )


def _int_env(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ConfigurationError(f"{name} must be {bounds}, got {value}")
    return value


def _formats_env(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    Image.init()
    formats: list[str] = []
    for item in raw.split(","):
        fmt = item.strip().upper()
        if not fmt:
            continue
        fmt = _FORMAT_ALIASES.get(fmt, fmt)
        if fmt not in Image.OPEN:
            raise ConfigurationError(f"{name} lists {item.strip()!r}, which is not an image format Pillow can read")
        if fmt not in formats:
            formats.append(fmt)
    if not formats:
        raise ConfigurationError(f"{name} must list at least one image format, got {raw!r}")
    return tuple(formats)


def _prefix_env(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, default)
    if not value:
        raise ConfigurationError(f"{name} must not be empty (the quarantine copy would overwrite the original)")
    return value


# --------------------------------------------------------------------------------------------------
# Event
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageEvent:
    bucket: str
    key: str
    etag: str | None
    version_id: str | None
    size: int | None
    execution_id: str | None

    def key_candidates(self) -> list[str]:
        """The key as given, then its URL-decoded form (S3 notifications encode keys, '+' for space)."""
        decoded = urllib.parse.unquote_plus(self.key)
        return [self.key] if decoded == self.key or not decoded else [self.key, decoded]


def parse_event(event: Any) -> ImageEvent:
    """Validate the execution input ``{"bucket", "key", "etag"?, "version_id"?, "size"?, "execution_id"?}``."""
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"event must be a JSON object with 'bucket' and 'key', got {type(event).__name__}")
    problems: list[str] = []
    for field in ("bucket", "key"):
        value = event.get(field)
        if value is None:
            problems.append(f"'{field}' is missing")
        elif not isinstance(value, str):
            problems.append(f"'{field}' must be a string, got {type(value).__name__}")
        elif not value.strip():
            problems.append(f"'{field}' is empty")
    for field in ("etag", "version_id", "execution_id"):
        value = event.get(field)
        if value is not None and not isinstance(value, str):
            problems.append(f"'{field}' must be a string or null, got {type(value).__name__}")
    size = event.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        problems.append(f"'size' must be a non-negative integer or null, got {size!r}")
    if problems:
        raise InvalidEventError("invalid event: " + "; ".join(problems))
    return ImageEvent(
        bucket=event["bucket"],
        key=event["key"],
        etag=normalize_etag(event.get("etag")),
        version_id=event.get("version_id") or None,
        size=size,
        execution_id=event.get("execution_id"),
    )


def normalize_etag(etag: str | None) -> str | None:
    """S3 API responses quote ETags, S3 events don't: compare and report them unquoted."""
    if not etag:
        return None
    return etag.strip().strip('"') or None


# --------------------------------------------------------------------------------------------------
# Image inspection
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NormalizedImage:
    png_bytes: bytes
    source_format: str
    source_width: int
    source_height: int
    width: int
    height: int

    @property
    def base64(self) -> str:
        return base64.b64encode(self.png_bytes).decode("ascii")


# Magic numbers: used to name formats we refuse without handing them to Pillow, and to tell
# "header of an allowed format is truncated/corrupt" apart from "not an image at all".
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"8BPS", "PSD"),
    (0, b"%PDF", "PDF"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG2000"),
    (0, b"\xffO\xffQ", "JPEG2000"),
    (0, b"\xff\n", "JPEG XL"),
    (0, b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
)
_FTYP_BRANDS = {
    b"heic": "HEIC", b"heix": "HEIC", b"hevc": "HEIC", b"heim": "HEIC", b"heis": "HEIC",
    b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF",
}


def sniff_format(data: bytes) -> str | None:
    """Best-effort container format from magic numbers (None if unknown)."""
    for offset, magic, name in _SIGNATURES:
        if data[offset: offset + len(magic)] == magic:
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


def _describe_unknown(data: bytes) -> str:
    sample = data[:512]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        kind = "the content looks like text"
    else:
        kind = f"first bytes are {data[:8].hex()}"
    return kind


def _looks_truncated(fmt: str, data: bytes) -> str | None:
    """Structural evidence that an image of format ``fmt`` ends early (None when it looks complete)."""
    if fmt == "PNG" and b"IEND" not in data[-64:]:
        return "no IEND chunk at the end of the file"
    if fmt == "JPEG" and not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        return "no end-of-image marker at the end of the file"
    if fmt == "WEBP" and len(data) >= 8:
        declared = int.from_bytes(data[4:8], "little") + 8
        if declared > len(data):
            return f"the file is {len(data)} bytes but its RIFF header declares {declared}"
    return None


_BOMB_SIZE = re.compile(r"Image size \((\d+) pixels\)")
_PILLOW_OBJECT_REPR = re.compile(r"<[^>]* object at 0x[0-9a-fA-F]+>")


def _pillow_message(exc: BaseException) -> str:
    msg = str(exc) or type(exc).__name__
    return _PILLOW_OBJECT_REPR.sub("the data", msg)


def _bomb(fmt: str | None, exc: BaseException, limit: int) -> ImageRejected:
    what = fmt or "image"
    match = _BOMB_SIZE.search(str(exc))
    if match:
        reason = (
            f"{what} declares {int(match.group(1))} pixels, above the limit of {limit} pixels "
            f"(MAX_IMAGE_PIXELS): refused as a possible decompression bomb"
        )
    else:
        reason = f"{what} data expands beyond safe limits, refused as a possible decompression bomb: {_pillow_message(exc)}"
    return ImageRejected("decompression_bomb", reason)


def _broken(fmt: str, data: bytes, exc: BaseException) -> ImageRejected:
    msg = _pillow_message(exc)
    evidence = _looks_truncated(fmt, data)
    says_truncated = "truncat" in msg.lower()
    if says_truncated or evidence:
        if says_truncated and evidence:
            detail = f"{msg} ({evidence})"
        elif says_truncated:
            detail = msg
        else:
            detail = f"{evidence} ({msg})"
        return ImageRejected("truncated_image", f"{fmt} data is truncated: {detail}")
    return ImageRejected("corrupt_image", f"{fmt} data is corrupt: {msg}")


class _PillowLimits:
    """Per-call Pillow safety settings: pixel limit, bomb warnings as errors, no truncated loads."""

    def __init__(self, max_pixels: int):
        self.max_pixels = max_pixels

    def __enter__(self) -> _PillowLimits:
        self._saved = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
        Image.MAX_IMAGE_PIXELS = self.max_pixels
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._warnings.__exit__(*exc_info)
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = self._saved


def _plugin_error(fmt: str, data: bytes) -> BaseException:
    """The specific error of ``fmt``'s decoder (Image.open only says 'cannot identify image file')."""
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
            with Image.open(io.BytesIO(data)) as img:
                return img.format
    except Exception:  # noqa: BLE001 - not identifiable at all
        return None


def inspect_image(data: bytes, settings: Settings) -> NormalizedImage:
    """Validate ``data`` as an image and return a small PNG rendition.

    Raises :class:`ImageRejected` with a reason code and a clear ASCII reason for anything that is
    not a complete, safe-sized image in one of ``settings.allowed_formats``.
    """
    allowed = settings.allowed_formats
    allowed_text = ", ".join(allowed)
    if not data:
        raise ImageRejected("empty_object", "object is empty (0 bytes)")
    if len(data) > settings.max_image_bytes:
        raise ImageRejected(
            "too_large",
            f"object is {len(data)} bytes, above the limit of {settings.max_image_bytes} bytes (MAX_IMAGE_BYTES)",
        )

    sniffed = sniff_format(data)
    if sniffed is not None and sniffed not in allowed:
        raise ImageRejected("unsupported_format", f"{sniffed} images are not supported; allowed formats: {allowed_text}")

    Image.init()
    side = settings.payload_max_side
    with _PillowLimits(settings.max_image_pixels):
        fmt: str | None = sniffed
        try:
            with Image.open(io.BytesIO(data), formats=list(allowed)) as probe:
                fmt = _CONTAINER_FORMATS.get(probe.format, probe.format) or sniffed
                probe.verify()
            img = Image.open(io.BytesIO(data), formats=[fmt] if fmt else list(allowed))
            source_width, source_height = img.size
            if fmt == "JPEG":
                # Decode straight at a reduced DCT scale (still reads the whole stream, so truncation shows).
                img.draft("RGB", (side * 2, side * 2))
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _bomb(fmt, exc, settings.max_image_pixels) from None
        except UnidentifiedImageError:
            if sniffed in allowed:
                # Signature of an allowed format, but its header does not parse.
                raise _broken(sniffed, data, _plugin_error(sniffed, data)) from None
            other = _identify_other(data)
            if other is not None and other not in allowed:
                raise ImageRejected(
                    "unsupported_format", f"{other} images are not supported; allowed formats: {allowed_text}"
                ) from None
            raise ImageRejected(
                "not_an_image",
                f"data is not a recognised image ({_describe_unknown(data)}); allowed formats: {allowed_text}",
            ) from None
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - decoders raise OSError/SyntaxError/ValueError/EOFError/...
            if "decompressed data too large" in str(exc).lower():
                raise _bomb(fmt, exc, settings.max_image_pixels) from None
            raise _broken(fmt or "image", data, exc) from None

        try:
            return _normalize(img, fmt or img.format, source_width, source_height, side, settings.payload_max_bytes)
        except (MemoryError, ImageRejected):
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. an exotic pixel mode that cannot become RGB
            raise ImageRejected(
                "corrupt_image", f"{fmt} image could not be converted to RGB: {_pillow_message(exc)}"
            ) from None
        finally:
            img.close()


def _normalize(
    img: Image.Image, fmt: str, source_width: int, source_height: int, side: int, max_bytes: int
) -> NormalizedImage:
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not reject a decodable picture
        pass
    rgb = _to_rgb(img)
    while True:
        rgb.thumbnail((side, side), Image.Resampling.LANCZOS)
        rgb.info = {}  # never carry ICC profiles / EXIF / text chunks into the (size-limited) payload
        out = io.BytesIO()
        rgb.save(out, format="PNG", optimize=True)
        png = out.getvalue()
        if len(png) <= max_bytes or side <= 8:
            break
        side = max(8, int(side * 0.75))  # over budget (large side, noisy picture): shrink and retry
    return NormalizedImage(
        png_bytes=png,
        source_format=fmt,
        source_width=source_width,
        source_height=source_height,
        width=rgb.width,
        height=rgb.height,
    )


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode.startswith("I"):  # 16/32-bit greyscale: scale to 8 bits instead of clipping to white
        img = img.point(lambda v: v * (1 / 256)).convert("L")
    elif img.mode == "F":
        img = img.convert("L")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


# --------------------------------------------------------------------------------------------------
# Outcomes
# --------------------------------------------------------------------------------------------------


def quarantine_key_for(key: str, settings: Settings) -> str:
    rest = key[len(settings.incoming_prefix):] if settings.incoming_prefix and key.startswith(settings.incoming_prefix) else key
    return settings.quarantine_prefix + rest


def copy_source_for(bucket: str, key: str) -> str:
    return f"{bucket}/{urllib.parse.quote(key, safe='/')}"


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def valid_outcome(
    *, bucket: str, key: str, etag: str | None, version_id: str | None, source_bytes: int, image: NormalizedImage
) -> dict[str, Any]:
    return {
        "valid": True,
        "bucket": bucket,
        "key": key,
        "etag": etag,
        "version_id": version_id,
        "image_data": image.base64,
        "content_type": "image/png",
        "source_format": image.source_format,
        "source_width": image.source_width,
        "source_height": image.source_height,
        "source_bytes": source_bytes,
    }


def invalid_outcome(
    *,
    bucket: str,
    key: str,
    etag: str | None,
    version_id: str | None,
    rejection: ImageRejected,
    settings: Settings,
    detected_at: str | None = None,
) -> dict[str, Any]:
    quarantine_key = quarantine_key_for(key, settings)
    return {
        "valid": False,
        "bucket": bucket,
        "key": key,
        "etag": etag,
        "version_id": version_id,
        "reason_code": rejection.reason_code,
        "reason": rejection.reason,
        "copy_source": copy_source_for(bucket, key),
        "quarantine_key": quarantine_key,
        "reason_key": quarantine_key + ".reason.json",
        "reason_record": {
            "bucket": bucket,
            "key": key,
            "reason_code": rejection.reason_code,
            "reason": rejection.reason,
            "detected_at": detected_at or utc_now_iso(),
        },
    }
