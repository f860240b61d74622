"""The labels layout: names, row format and sniffing that the review API writes and training reads."""
from __future__ import annotations

import pytest

from scones_contracts.classes import CLASS_NAMES
from scones_contracts.labels import (OCTET_STREAM, fragment_row, image_content_type, image_extension, image_path,
                                     label_index, list_path)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8


@pytest.mark.parametrize("data, extension, content_type", [
    (PNG, ".png", "image/png"), (JPEG, ".jpg", "image/jpeg"), (WEBP, ".webp", "image/webp"),
    (b"GIF89a" + b"\x00" * 10, None, OCTET_STREAM),
    (b"<html><script>alert(1)</script>", None, OCTET_STREAM),
    (b"<svg onload=alert(1)>", None, OCTET_STREAM),
    (b"", None, OCTET_STREAM),
])
def test_only_the_accepted_image_formats_are_examples_or_served_as_images(data, extension, content_type):
    assert image_extension(data) == extension
    assert image_content_type(data) == content_type


def test_a_fragment_row_is_a_train_lst_row_whose_index_comes_from_the_review_id():
    row = fragment_row("abc123", "motorcycle", image_path("abc123", ".png"))
    index, label, path = row.rstrip("\n").split("\t")
    assert row.endswith("\n") and row.count("\n") == 1
    assert int(index) == label_index("abc123") < 2 ** 48
    assert int(label) == CLASS_NAMES.index("motorcycle") == 1
    assert path == "images/abc123.png" and list_path("abc123") == "lists/abc123.lst"
    assert label_index("abc123") != label_index("abc124")


def test_a_reject_or_unknown_label_is_not_an_example():
    with pytest.raises(ValueError, match="expected one of bicycle, motorcycle"):
        fragment_row("r", "reject", "images/r.png")
    with pytest.raises(ValueError, match="must not be empty"):
        label_index("")
