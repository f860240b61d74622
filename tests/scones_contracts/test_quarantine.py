"""The quarantine layout: one folder per upload, keys that never collide and never exceed S3's 1024 bytes."""
from __future__ import annotations

import pytest

from scones_contracts.quarantine import MAX_KEY_BYTES, copy_source, quarantine_location, truncate_utf8, upload_id

PREFIXES = {"incoming_prefix": "incoming/", "quarantine_prefix": "quarantine/"}


def where(key: str, version_id: str | None = "v1", etag: str | None = "e1"):
    return quarantine_location(key, version_id=version_id, etag=etag, **PREFIXES)


def test_the_layout_keeps_the_upload_path_and_adds_its_own_folder():
    location = where("incoming/driver 7/bike.png")
    assert location.upload_id == upload_id("incoming/driver 7/bike.png", "v1", "e1")
    assert len(location.upload_id) == 16 and int(location.upload_id, 16) >= 0
    assert location.image_key == f"quarantine/driver 7/bike.png/{location.upload_id}/upload"
    assert location.reason_key == f"quarantine/driver 7/bike.png/{location.upload_id}/reason.json"
    assert where("elsewhere/z.png").image_key.startswith("quarantine/elsewhere/z.png/")


def test_no_upload_can_take_the_key_of_another():
    x = where("incoming/x.png")
    hostile = [
        where("incoming/x.png.reason.json"),                        # the old scheme's clash
        where(x.reason_key.replace("quarantine/", "incoming/", 1)),  # X's own reason path, uploaded
        where(x.image_key.replace("quarantine/", "incoming/", 1)),
        where("incoming/x.png", version_id="v2"),                   # a second version of X
        where("incoming/x.png", version_id=None, etag="e2"),        # unversioned, other content
    ]
    keys = [k for loc in (x, *hostile) for k in (loc.image_key, loc.reason_key)]
    assert len(keys) == len(set(keys))


def test_the_same_upload_always_gets_the_same_keys():
    assert where("incoming/a.png") == where("incoming/a.png")  # a redelivered event overwrites only itself


@pytest.mark.parametrize("key", [
    "incoming/" + "a" * (MAX_KEY_BYTES - 9),                                # 1024 bytes of ASCII
    "incoming/" + "d/" * 400 + "x" * 200 + ".png",                          # 1013 bytes, deep folders
    "incoming/a" + "\U0001f6b2" * 252 + "\u00e9.png",                       # 1024 bytes, 4-byte characters
    "incoming/" + "\u00e9" * 507 + ".png",                                  # 1027 chars of 2-byte UTF-8
])
def test_keys_derived_from_the_longest_upload_keys_are_valid(key):
    assert len(key.encode()) >= 1000
    location = where(key)
    for derived in (location.image_key, location.reason_key):
        encoded = derived.encode("utf-8")
        assert len(encoded) <= MAX_KEY_BYTES
        assert encoded.decode("utf-8") == derived  # never half a character
        assert derived.startswith("quarantine/" + key[9:200])
    assert location.image_key.endswith(f"/{location.upload_id}/upload")
    # Cut uploads stay apart: they differ only after the cut.
    assert where(key[:-1] + "Z").reason_key != location.reason_key


def test_truncation_never_splits_a_character():
    assert truncate_utf8("\u00e9\u00e9", 3) == "\u00e9"
    assert truncate_utf8("\U0001f6b2", 3) == ""
    assert truncate_utf8("abc", 3) == "abc"


def test_a_quarantine_prefix_too_long_for_a_useful_key_is_refused():
    with pytest.raises(ValueError, match="quarantine prefix"):
        quarantine_location("incoming/a", version_id=None, etag=None, incoming_prefix="incoming/",
                            quarantine_prefix="q" * 300 + "/")


def test_copy_source_quotes_the_key_and_names_the_version():
    assert copy_source("b", "incoming/a b?c.png") == "b/incoming/a%20b%3Fc.png"
    assert copy_source("b", "incoming/x.png", "3/L4kq+z") == "b/incoming/x.png?versionId=3%2FL4kq%2Bz"
