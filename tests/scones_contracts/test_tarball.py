from __future__ import annotations

import gzip
import io
import tarfile

import pytest

from scones_contracts.tarball import TarballError, is_tarball, read_member, read_members, tar_gz_bytes, write_tar_gz

FILES = {"model.pth": b"\0" * 1000, "metadata.json": b"{}", "code/training/__init__.py": b"", "code/inference.py": b"x"}


def test_the_same_files_give_the_same_bytes_whatever_their_order():
    first = tar_gz_bytes(FILES)
    second = tar_gz_bytes(dict(reversed(list(FILES.items()))))
    assert first == second
    assert gzip.decompress(first)  # plain gzip
    assert first[4:8] == b"\0\0\0\0"  # no timestamp in the gzip header


def test_members_are_sorted_with_fixed_metadata_and_directories():
    with tarfile.open(fileobj=io.BytesIO(tar_gz_bytes(FILES)), mode="r:gz") as archive:
        members = archive.getmembers()
    assert [m.name for m in members] == ["code", "code/inference.py", "code/training", "code/training/__init__.py",
                                         "metadata.json", "model.pth"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
    assert {m.mode for m in members if m.isdir()} == {0o755} and {m.mode for m in members if m.isfile()} == {0o644}


def test_reading_streams_and_stops_at_the_wanted_members():
    class OneWayStream(io.RawIOBase):
        """A non-seekable stream that records how far it was read."""

        def __init__(self, data: bytes):
            self.data, self.position = data, 0

        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = self.data[self.position:self.position + len(buffer)]
            buffer[:len(chunk)] = chunk
            self.position += len(chunk)
            return len(chunk)

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as archive:  # SageMaker-style './' names, big weights last
        for name, data in (("./metadata.json", b'{"a": 1}'), ("./model.pth", b"\1" * 3_000_000)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    stream = OneWayStream(raw.getvalue())
    assert read_members(stream, ["metadata.json"], origin="s3://b/model.tar.gz") == {"metadata.json": b'{"a": 1}'}
    assert stream.position < len(raw.getvalue()) / 2


def test_missing_members_are_absent_and_limits_and_garbage_raise():
    blob = tar_gz_bytes(FILES)
    assert read_members(io.BytesIO(blob), ["baseline.json", "metadata.json"], origin="m") == {"metadata.json": b"{}"}
    with pytest.raises(TarballError, match="model.pth is 1000 bytes, above the 10-byte limit"):
        read_members(io.BytesIO(blob), ["model.pth"], origin="m", max_bytes=10)
    with pytest.raises(TarballError, match="not a readable tar archive"):
        read_members(io.BytesIO(b"not a tarball at all" * 50), ["x"], origin="m")


def test_read_member_from_a_file_or_an_extracted_folder(tmp_path):
    path = write_tar_gz(tmp_path / "out" / "model.tar.gz", FILES)
    assert read_member(path, "code/inference.py") == b"x"
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "metadata.json").write_bytes(b"{}")
    assert read_member(tmp_path / "dir", "metadata.json") == b"{}"
    with pytest.raises(TarballError, match="no baseline.json"):
        read_member(path, "baseline.json")
    with pytest.raises(TarballError, match="no baseline.json"):
        read_member(tmp_path / "dir", "baseline.json")
    with pytest.raises(TarballError, match="cannot read"):
        read_member(tmp_path / "missing.tar.gz", "x")


def test_is_tarball():
    assert is_tarball(tar_gz_bytes(FILES))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        archive.addfile(tarfile.TarInfo("empty"))
    assert is_tarball(raw.getvalue())
    assert not is_tarball(b'{"version": 1}')
