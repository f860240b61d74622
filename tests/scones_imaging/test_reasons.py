"""Every hostile file gets a specific, human reason: what is wrong and where, never a decoder's
internals ("not identified by this driver", a `struct` error, "could not create decoder object")."""
from __future__ import annotations

import struct
import zlib

import pytest
from PIL import Image

from scones.local.hostile_files import write_hostile_files
from scones_imaging.decode import ImageRejected, decode_image
from tests import image_factory

SIG = b"\x89PNG\r\n\x1a\n"
DECODER_INTERNALS = ("driver", "unpack", "struct", "buffer", "decoder object", "index out of range",
                     "Truncated File Read", "cannot identify", "broken PNG file")


def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png(width=10, height=10, depth=8, colour=2, interlace=0, idat: bytes | None = None, first: bytes = b"") -> bytes:
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace))
    data = zlib.compress(b"\0" * 310) if idat is None else idat
    return SIG + first + header + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def jpeg_segments(*segments: bytes) -> bytes:
    return b"\xff\xd8" + b"".join(segments) + b"\xff\xd9"


def base() -> bytes:
    return image_factory.labelled_images()[0].data


PNG_T, PNG_C = "PNG data is truncated: ", "PNG data is corrupt: "
NOT_IMAGE = "data is not a recognised image ({}); allowed formats: PNG, JPEG, WEBP"
CASES = {
    # name: (bytes, reason_code, exact reason)
    "width-0 PNG": (png(width=0), "corrupt_image", PNG_C + "the image header declares a width of 0 pixels"),
    "height-0 PNG": (png(height=0), "corrupt_image", PNG_C + "the image header declares a height of 0 pixels"),
    "7-bit RGB PNG": (png(depth=7), "corrupt_image",
                      PNG_C + "the image header declares 7-bit samples for RGB, which allows 8, 16"),
    "colour type 5 PNG": (png(colour=5), "corrupt_image",
                          PNG_C + "the image header declares colour type 5, which does not exist "
                                  "(PNG has 0, 2, 3, 4, 6)"),
    "interlace 7 PNG": (png(interlace=7), "corrupt_image",
                        PNG_C + "the image header declares interlace method 7; PNG defines 0 (none) and 1 (Adam7)"),
    "bare PNG signature": (SIG, "truncated_image",
                           PNG_T + "the file ends right after its 8-byte PNG signature: there is no image header"),
    "signature + 4 bytes": (SIG + b"\0\0\0\x0d", "truncated_image",
                            PNG_T + "the file ends at byte 12, inside the header of chunk 1 (the image header, IHDR)"),
    "header only PNG": (SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", 10, 10, 8, 2, 0, 0, 0)), "truncated_image",
                        PNG_T + "the file ends right after its IHDR chunk (byte 33), with no image data (IDAT)"),
    "PNG without IDAT": (SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", 10, 10, 8, 2, 0, 0, 0)) + chunk(b"IEND", b""),
                         "corrupt_image", PNG_C + "the file has no image data (no IDAT chunk)"),
    "PNG IDAT first": (SIG + chunk(b"IDAT", b"x") + chunk(b"IEND", b""), "corrupt_image",
                       PNG_C + "the first chunk is IDAT, not the image header (IHDR) every PNG starts with"),
    "PNG with rows missing": (png(idat=zlib.compress(b"\0" * 30)), "truncated_image",
                              PNG_T + "the image data holds 30 of the 310 bytes its 10 x 10 header needs: "
                                      "rows are missing"),
    "PNG with garbage IDAT": (png(idat=b"garbagegarbage"), "corrupt_image",
                              PNG_C + "the compressed image data (IDAT) is damaged (incorrect header check)"),
    "PNG with empty IDAT": (png(idat=b""), "truncated_image",
                            PNG_T + "the compressed image data (IDAT) ends before its stream is complete: image rows "
                                    "are missing"),
    "PNG chunk of 2 GB": (SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", 10, 10, 8, 2, 0, 0, 0))
                          + struct.pack(">I", 0x7FFFFFFF) + b"IDAT" + b"\0" * 20, "truncated_image",
                          PNG_T + "the file ends inside its IDAT chunk: the chunk declares 2147483647 bytes of data, "
                                  "20 are there"),
    "PNG cut in IHDR checksum": (base()[:30], "truncated_image",
                                 PNG_T + "the file ends inside its IHDR chunk, before the chunk's checksum"),
    "1 random byte": (b"\x07", "not_an_image", NOT_IMAGE.format("only 1 byte, too short to be an image")),
    "1 printable byte": (b"A", "not_an_image", NOT_IMAGE.format("only 1 byte, too short to be an image")),
    "2 random bytes": (b"\xc3\xa9", "not_an_image", NOT_IMAGE.format("only 2 bytes, too short to be an image")),
    "3 bytes of a PNG signature": (SIG[:3], "truncated_image",
                                   PNG_T + "the file ends after 3 bytes, inside its signature"),
    "JPEG start marker only": (b"\xff\xd8", "truncated_image",
                               "JPEG data is truncated: the file ends after 2 bytes, inside its signature"),
    "JPEG cut in its header": (b"\xff\xd8\xff", "truncated_image",
                               "JPEG data is truncated: the file ends after 3 bytes, inside its header, before the frame "
                               "header (SOF) that gives the image size"),
    "JPEG without frame header": (jpeg_segments(b"\xff\xfe\x00\x04hi"), "corrupt_image",
                                  "JPEG data is corrupt: the file ends (EOI marker) before any frame header (SOF): "
                                  "it holds no image"),
    "JPEG of width 0": (jpeg_segments(b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 10, 0, 1) + b"\x01\x11\x00"),
                        "corrupt_image", "JPEG data is corrupt: the frame header (SOF) declares a width of 0 pixels"),
    "RIFF header only": (b"RIFF\x04\x00\x00\x00WEBP", "truncated_image",
                         "WEBP data is truncated: the file is 12 bytes: a RIFF header and no image chunk"),
    "WebP cut off": (image_factory.truncated(image_factory.reencode(base(), "WEBP"), 0.6), "truncated_image",
                     None),  # exact figures depend on the encoder; checked below
    "WebP with a foreign chunk": (b"RIFF\x0c\x00\x00\x00WEBPJUNK\x00\x00\x00\x00", "corrupt_image",
                                  "WEBP data is corrupt: the first chunk is 'JUNK', not an image chunk (VP8, VP8L or "
                                  "VP8X)"),
    "text": (image_factory.TEXT_AS_PNG, "not_an_image", NOT_IMAGE.format("it looks like text")),
    "HTML": (b"<!doctype html><html><body>not a photo</body></html>", "not_an_image",
             NOT_IMAGE.format("it looks like an HTML page (text)")),
    "JSON": (b'{"photo": "bike.png", "note": "an upload of the wrong file"}', "not_an_image",
             NOT_IMAGE.format("it looks like JSON text")),
    "UTF-16 text": ("a note saved as UTF-16 text".encode("utf-16"), "not_an_image", NOT_IMAGE.format("it looks like text")),
    "ZIP": (b"PK\x03\x04" + b"\0" * 40, "not_an_image", NOT_IMAGE.format("it looks like a ZIP archive (or an Office "
                                                                          "document)")),
    "MP4": (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\0" * 64, "not_an_image",
            NOT_IMAGE.format("it looks like an MP4/QuickTime video")),
    "zeros": (b"\0" * 1024, "not_an_image", NOT_IMAGE.format("all 1024 bytes are zero")),
    "random bytes": (bytes(range(7, 250)) * 8, "not_an_image",
                     NOT_IMAGE.format("binary data of no known format, first bytes 0708090a0b0c0d0e")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_hostile_file_gets_its_specific_reason(name):
    data, code, reason = CASES[name]
    with pytest.raises(ImageRejected) as refused:
        decode_image(data)
    assert refused.value.reason_code == code
    if reason is not None:
        assert refused.value.reason == reason
    assert not any(internal.lower() in refused.value.reason.lower() for internal in DECODER_INTERNALS)


def test_a_cut_off_webp_names_both_sizes():
    data = CASES["WebP cut off"][0]
    with pytest.raises(ImageRejected) as refused:
        decode_image(data)
    declared = int.from_bytes(data[4:8], "little") + 8
    assert refused.value.reason == (f"WEBP data is truncated: the file is {len(data)} bytes but its RIFF header "
                                    f"declares {declared}: it was cut off")


def test_the_test_factory_bad_files_have_no_decoder_internals():
    for name, (data, code) in image_factory.bad_files(base()).items():
        try:
            decode_image(data)
        except ImageRejected as refused:
            assert refused.reason_code == code, name
            assert not any(i.lower() in refused.reason.lower() for i in DECODER_INTERNALS), (name, refused.reason)
        else:
            pytest.fail(f"{name} was accepted")


def test_the_demo_hostile_files_have_specific_reasons(tmp_path):
    expected = write_hostile_files(tmp_path, base())
    for name, fragment in expected.items():
        with pytest.raises(ImageRejected) as refused:
            decode_image((tmp_path / name).read_bytes())
        assert fragment in refused.value.reason, (name, refused.value.reason)
        assert not any(i.lower() in refused.value.reason.lower() for i in DECODER_INTERNALS), (name, refused.value.reason)
