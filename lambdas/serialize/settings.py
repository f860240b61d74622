"""The serialize function's settings, from the environment the workflow stack sets.

    MAX_IMAGE_BYTES      largest object accepted, bytes; checked with HeadObject before any download
    MAX_IMAGE_PIXELS     decompression-bomb limit, pixels
    ALLOWED_FORMATS      comma-separated Pillow format names ("JPG" = JPEG)
    PAYLOAD_MAX_SIDE     longest side of the PNG put in the payload, px
    INCOMING_PREFIX      upload prefix, replaced by QUARANTINE_PREFIX in the quarantine key
    QUARANTINE_PREFIX    prefix of quarantine_key / reason_key (never empty: the copy would overwrite the upload)
    PAYLOAD_MAX_BYTES    optional hard budget for that PNG (default 48 KiB): a bigger rendition is
                         shrunk until it fits, so the Step Functions state stays far below 256 KiB

All but PAYLOAD_MAX_BYTES are required; ranges and defaults are `scones_contracts.images`'.

The decoding budget is not a variable: it derives from the memory the function is configured
with (the Lambda context's `memory_limit_in_mb`), `scones_contracts.images.decode_memory_budget`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scones_contracts.env import ConfigurationError, Environment
from scones_contracts.images import (DEFAULT_MAX_IMAGE_BYTES, DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_PAYLOAD_MAX_BYTES,
                                     DEFAULT_PAYLOAD_MAX_SIDE, IMAGE_FORMATS, MAX_IMAGE_BYTES_RANGE,
                                     MAX_IMAGE_PIXELS_RANGE, PAYLOAD_MAX_BYTES_RANGE, PAYLOAD_MAX_SIDE_RANGE,
                                     decode_memory_budget)
from scones_imaging.decode import ImageLimits
from scones_imaging.formats import pillow_format


@dataclass(frozen=True)
class Settings:
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    allowed_formats: tuple[str, ...] = IMAGE_FORMATS
    payload_max_side: int = DEFAULT_PAYLOAD_MAX_SIDE
    payload_max_bytes: int = DEFAULT_PAYLOAD_MAX_BYTES
    incoming_prefix: str = "incoming/"
    quarantine_prefix: str = "quarantine/"
    function_memory_mb: int | None = None  # None: decoding is not bounded (outside Lambda)

    @property
    def decode_budget(self) -> int | None:
        if self.function_memory_mb is None:
            return None
        return decode_memory_budget(self.function_memory_mb, self.max_image_bytes)

    @property
    def limits(self) -> ImageLimits:
        return ImageLimits(self.max_image_bytes, self.max_image_pixels, self.allowed_formats, self.decode_budget)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, function_memory_mb: object = None) -> Settings:
        """`function_memory_mb`: the context's `memory_limit_in_mb` (AWS passes it as a string)."""
        read = Environment(env)
        return cls(
            function_memory_mb=_memory_mb(function_memory_mb),
            max_image_bytes=read.integer("MAX_IMAGE_BYTES", minimum=MAX_IMAGE_BYTES_RANGE[0],
                                         maximum=MAX_IMAGE_BYTES_RANGE[1]),
            max_image_pixels=read.integer("MAX_IMAGE_PIXELS", minimum=MAX_IMAGE_PIXELS_RANGE[0],
                                          maximum=MAX_IMAGE_PIXELS_RANGE[1]),
            allowed_formats=_formats(read.names("ALLOWED_FORMATS")),
            payload_max_side=read.integer("PAYLOAD_MAX_SIDE", minimum=PAYLOAD_MAX_SIDE_RANGE[0],
                                          maximum=PAYLOAD_MAX_SIDE_RANGE[1]),
            payload_max_bytes=read.integer("PAYLOAD_MAX_BYTES", DEFAULT_PAYLOAD_MAX_BYTES,
                                           minimum=PAYLOAD_MAX_BYTES_RANGE[0], maximum=PAYLOAD_MAX_BYTES_RANGE[1]),
            incoming_prefix=read.text("INCOMING_PREFIX"),
            quarantine_prefix=read.text("QUARANTINE_PREFIX"),
        )


def _memory_mb(value: object) -> int | None:
    if value is None:
        return None
    try:
        memory_mb = int(str(value))
    except ValueError:
        raise ConfigurationError(f"the function's memory size {value!r} is not a number of MB") from None
    if memory_mb < 128:
        raise ConfigurationError(f"the function's memory size {memory_mb} MB is below Lambda's minimum of 128 MB")
    return memory_mb


def _formats(names: tuple[str, ...]) -> tuple[str, ...]:
    formats: list[str] = []
    for name in names:
        fmt = pillow_format(name)
        if fmt is None:
            raise ConfigurationError(f"ALLOWED_FORMATS lists {name!r}, which is not an image format Pillow can read")
        if fmt not in formats:
            formats.append(fmt)
    return tuple(formats)
