"""Why a PNG, JPEG or WebP file cannot be decoded, in words a person can act on.

Pillow's own errors name its internals ("not identified by this driver", a `struct` error, "could
not create decoder object"). When a decoder refuses a file, `diagnose(fmt, data)` walks the
file's structure itself (PNG chunks and their checksums, JPEG markers, the WebP RIFF header) and
says what is wrong and where: `(reason_code, reason)` with reason_code `truncated_image` (the file
ends early) or `corrupt_image` (it is complete but wrong), or None when the structure is sound
(the caller then translates the decoder's message, `decoder_message`).
"""
from __future__ import annotations

import re
import struct
import zlib

Finding = tuple[str, str]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SIGNATURES = {"PNG": PNG_SIGNATURE, "JPEG": b"\xff\xd8\xff"}
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_PNG_COLOUR_NAMES = {0: "greyscale", 2: "RGB", 3: "indexed colour", 4: "greyscale with alpha", 6: "RGBA"}
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_INFLATE_STEP = 1 << 20
# JPEG start-of-frame markers (C4 = DHT, C8 = JPG extension, CC = DAC are not frames).
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01} | set(range(0xD0, 0xD8))
_JPEG_NAMES = {0xC4: "Huffman table (DHT)", 0xDB: "quantisation table (DQT)", 0xDA: "scan header (SOS)",
               0xDD: "restart interval (DRI)", 0xFE: "comment (COM)"}
_WEBP_IMAGE_CHUNKS = (b"VP8 ", b"VP8L", b"VP8X")


def truncated(reason: str) -> Finding:
    return "truncated_image", reason


def corrupt(reason: str) -> Finding:
    return "corrupt_image", reason


def diagnose(fmt: str, data: bytes) -> Finding | None:
    """What is structurally wrong with `data`, a file of format `fmt`; None if nothing is found."""
    check = {"PNG": _png, "JPEG": _jpeg, "WEBP": _webp}.get(fmt)
    return check(data) if check else None


def signature_prefix(data: bytes) -> str | None:
    """The format whose signature `data` is a proper beginning of (a file cut inside its signature)."""
    for fmt, signature in SIGNATURES.items():
        if 0 < len(data) < len(signature) and signature.startswith(data):
            return fmt
    return None


# -- PNG ---------------------------------------------------------------------------------------
def _png(data: bytes) -> Finding | None:
    size = len(data)
    if size == len(PNG_SIGNATURE):
        return truncated("the file ends right after its 8-byte PNG signature: there is no image header")
    pos, header, idat, chunks, last = len(PNG_SIGNATURE), None, [], 0, ""
    while True:
        if pos == size:
            return truncated(f"the file ends right after its {last} chunk (byte {size}), "
                             + ("with no image data (IDAT)" if not idat else "before its IEND chunk"))
        if pos + 8 > size:
            return truncated(f"the file ends at byte {size}, inside the header of chunk {chunks + 1}"
                             + ("" if header else " (the image header, IHDR)"))
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        name = kind.decode("latin-1")
        if not kind.isalpha():
            return corrupt(f"chunk {chunks + 1} at byte {pos} has no valid chunk type ({kind.hex()}): "
                           "the file is damaged")
        if chunks == 0 and kind != b"IHDR":
            return corrupt(f"the first chunk is {name}, not the image header (IHDR) every PNG starts with")
        if length > 0x7FFFFFFF:
            return corrupt(f"chunk {name} declares {length} bytes, more than PNG allows (2^31 - 1)")
        if pos + 12 + length > size:
            present = size - pos - 8
            if present >= length:
                return truncated(f"the file ends inside its {name} chunk, before the chunk's checksum")
            return truncated(f"the file ends inside its {name} chunk: the chunk declares {length} bytes of data, "
                             f"{present} are there")
        body = data[pos + 8:pos + 8 + length]
        (stored,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != stored:
            return corrupt(f"chunk {name} at byte {pos} fails its checksum (CRC): the file was damaged")
        if kind == b"IHDR":
            header = body
            problem = _png_header(body)
            if problem:
                return problem
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        chunks, last = chunks + 1, name
        pos += 12 + length
    if not idat:
        return corrupt("the file has no image data (no IDAT chunk)")
    return _png_pixels(header, b"".join(idat))


def _png_header(body: bytes) -> Finding | None:
    if len(body) != 13:
        return corrupt(f"the image header (IHDR) is {len(body)} bytes long instead of 13")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
    for side, value in (("width", width), ("height", height)):
        if value == 0:
            return corrupt(f"the image header declares a {side} of 0 pixels")
        if value > 0x7FFFFFFF:
            return corrupt(f"the image header declares a {side} of {value} pixels, more than PNG allows (2^31 - 1)")
    if colour not in _PNG_DEPTHS:
        return corrupt(f"the image header declares colour type {colour}, which does not exist (PNG has 0, 2, 3, 4, 6)")
    if depth not in _PNG_DEPTHS[colour]:
        allowed = ", ".join(map(str, _PNG_DEPTHS[colour]))
        return corrupt(f"the image header declares {depth}-bit samples for {_PNG_COLOUR_NAMES[colour]}, "
                       f"which allows {allowed}")
    if compression or filtering:
        return corrupt(f"the image header declares compression method {compression} and filter method {filtering}; "
                       "PNG defines only method 0")
    if interlace not in (0, 1):
        return corrupt(f"the image header declares interlace method {interlace}; PNG defines 0 (none) and 1 (Adam7)")
    return None


def _png_pixels(header: bytes, stream: bytes) -> Finding | None:
    """Inflate the image data in bounded steps (nothing kept) and compare it with what the header needs."""
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    needed = height * (1 + (width * _PNG_CHANNELS[colour] * depth + 7) // 8) if not interlace else None
    inflate, produced, pending = zlib.decompressobj(), 0, stream
    try:
        while pending and not inflate.eof:
            produced += len(inflate.decompress(pending, _INFLATE_STEP))
            pending = inflate.unconsumed_tail
            if needed is not None and produced > needed:
                return None  # more rows than needed: not what stops the decoder
        produced += len(inflate.flush())
    except zlib.error as exc:
        detail = str(exc).split(": ", 1)[-1]
        return corrupt(f"the compressed image data (IDAT) is damaged ({detail})")
    if not inflate.eof:
        return truncated("the compressed image data (IDAT) ends before its stream is complete: image rows are missing")
    if needed is not None and produced < needed:
        return truncated(f"the image data holds {produced} of the {needed} bytes its {width} x {height} header needs: "
                         "rows are missing")
    return None


# -- JPEG --------------------------------------------------------------------------------------
def _jpeg(data: bytes) -> Finding | None:
    size, pos = len(data), 2
    while True:
        while pos < size and data[pos] == 0xFF and pos + 1 < size and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 2 > size:
            return truncated(f"the file ends after {size} bytes, inside its header, before the frame header (SOF) "
                             "that gives the image size")
        if data[pos] != 0xFF:
            return corrupt(f"the header is damaged at byte {pos}: a marker was expected")
        marker = data[pos + 1]
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if marker == 0xD9:
            return corrupt("the file ends (EOI marker) before any frame header (SOF): it holds no image")
        if marker == 0xDA:
            return corrupt("the scan data (SOS) comes before any frame header (SOF): the image size is unknown")
        name = _JPEG_NAMES.get(marker, "frame header (SOF)" if marker in _JPEG_SOF else f"segment FF{marker:02X}")
        if pos + 4 > size:
            return truncated(f"the file ends after {size} bytes, inside the {name}")
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if length < 2:
            return corrupt(f"the {name} at byte {pos} declares a length of {length}")
        if pos + 2 + length > size:
            return truncated(f"the file ends after {size} bytes, inside the {name} (it declares {length} bytes)")
        if marker in _JPEG_SOF:
            return _jpeg_frame(data[pos + 4:pos + 2 + length])
        pos += 2 + length


def _jpeg_frame(body: bytes) -> Finding | None:
    if len(body) < 6:
        return corrupt(f"the frame header (SOF) is {len(body)} bytes long, too short for the image size")
    _, height, width, components = struct.unpack(">BHHB", body[:6])
    if width == 0:
        return corrupt("the frame header (SOF) declares a width of 0 pixels")
    if height == 0:
        return corrupt("the frame header (SOF) declares a height of 0 (to be given later by a DNL marker), "
                       "which is not supported")
    if components not in (1, 3, 4):
        return corrupt(f"the frame header (SOF) declares {components} colour components; images have 1, 3 or 4")
    return None


# -- WebP --------------------------------------------------------------------------------------
def _webp(data: bytes) -> Finding | None:
    size = len(data)
    declared = int.from_bytes(data[4:8], "little") + 8
    if declared > size:
        return truncated(f"the file is {size} bytes but its RIFF header declares {declared}: it was cut off")
    if size < 20:
        return truncated(f"the file is {size} bytes: a RIFF header and no image chunk")
    kind, length = data[12:16], int.from_bytes(data[16:20], "little")
    if kind not in _WEBP_IMAGE_CHUNKS:
        return corrupt(f"the first chunk is {kind.decode('latin-1')!r}, not an image chunk (VP8, VP8L or VP8X)")
    if 20 + length > size:
        return truncated(f"the file ends inside its {kind.decode('latin-1').strip()} chunk "
                         f"(it declares {length} bytes, {size - 20} are there)")
    return None


# -- the decoder's own words -------------------------------------------------------------------
_DECODER_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"image file is truncated|truncated file read", re.I), "the image data ends early"),
    (re.compile(r"broken data stream", re.I), "the compressed image data is damaged"),
    (re.compile(r"could not create decoder object|failed to decode", re.I),
     "the decoder could not read its image data"),
    (re.compile(r"unpack_from requires a buffer|buffer is not large enough|index out of range", re.I),
     "a header ends too early to be read"),
    (re.compile(r"not identified by this driver|cannot identify image file", re.I), "its header could not be read"),
)


def decoder_message(message: str) -> str:
    """A decoder's error in plain words: known Pillow phrasings translated, others kept as they are."""
    for pattern, phrase in _DECODER_PHRASES:
        if pattern.search(message):
            return phrase
    return f"the decoder says: {message}"
