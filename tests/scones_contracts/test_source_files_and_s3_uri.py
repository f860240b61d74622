from __future__ import annotations

import pytest

from scones_contracts.s3_uri import parse_s3_uri, s3_uri
from scones_contracts.source_files import files_sha256, package_files, source_files


def make_package(root, name="pkg"):
    (root / name / "sub" / "__pycache__").mkdir(parents=True)
    (root / name / ".pytest_cache").mkdir()
    (root / name / "__init__.py").write_text("")
    (root / name / "sub" / "mod.py").write_text("x = 1\n")
    (root / name / "sub" / "data.json").write_text("{}")
    (root / name / "sub" / "mod.pyc").write_bytes(b"junk")
    (root / name / "sub" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"junk")
    (root / name / ".pytest_cache" / "v").write_text("junk")
    return root / name


def test_the_one_inclusion_rule_keeps_every_file_but_caches(tmp_path):
    package = make_package(tmp_path)
    assert [name for name, _ in source_files(package)] == ["__init__.py", "sub/data.json", "sub/mod.py"]
    assert [name for name, _ in package_files(tmp_path, ["pkg"])] == ["pkg/__init__.py", "pkg/sub/data.json",
                                                                      "pkg/sub/mod.py"]
    with pytest.raises(FileNotFoundError, match="not a Python package"):
        package_files(tmp_path, ["missing"])


def test_the_hash_changes_with_content_names_and_salt_but_not_with_caches(tmp_path):
    package = make_package(tmp_path)
    before = files_sha256(source_files(package))
    (package / "sub" / "__pycache__" / "other.pyc").write_bytes(b"more junk")
    assert files_sha256(source_files(package)) == before
    assert files_sha256(source_files(package), salt="v2") != before
    (package / "sub" / "mod.py").write_text("x = 2\n")
    changed = files_sha256(source_files(package))
    assert changed != before
    (package / "sub" / "mod.py").rename(package / "sub" / "mod2.py")
    assert files_sha256(source_files(package)) != changed


def test_s3_uris():
    assert parse_s3_uri("s3://bucket/a/b.json") == ("bucket", "a/b.json")
    assert parse_s3_uri("s3://bucket") == ("bucket", "")
    assert s3_uri("bucket", "/a/b") == "s3://bucket/a/b"
    for bad in ("https://bucket/a", "s3:///a", "bucket/a"):
        with pytest.raises(ValueError, match="not an s3:// URI"):
            parse_s3_uri(bad)
