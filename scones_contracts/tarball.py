"""Deterministic tar.gz writing, and reading chosen members out of a tarball.

Written archives hold their members sorted (each directory before its contents), with mtime 0,
uid/gid 0, no owner names, mode 0644 (files) / 0755 (directories), and a gzip header without a
timestamp: the same files always give the same bytes (and the same S3 ETag and asset hash).

Readers stream (`r|*`: gzip or plain tar, no seeking), so a member near the start of a large
model.tar.gz is found without reading or holding the weights behind it; names are compared with
any leading `./` removed (SageMaker tars SM_MODEL_DIR that way).
"""
from __future__ import annotations

import gzip
import io
import os
import tarfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

FIXED_MTIME = 0
_GZIP_MAGIC = b"\x1f\x8b"


class TarballError(ValueError):
    """The archive is unreadable, or a wanted member is missing, not a file or too large."""


def _info(name: str, size: int | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = FIXED_MTIME, 0, 0, "", ""
    if size is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    else:
        info.size, info.mode = size, 0o644
    return info


def tar_gz_bytes(files: Mapping[str, bytes]) -> bytes:
    """Deterministic tar.gz of {posix path: bytes}; parent directories are added as members."""
    directories = {"/".join(name.split("/")[:i]) for name in files for i in range(1, name.count("/") + 1)}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name in sorted(set(files) | directories):
            if name in files:
                archive.addfile(_info(name, len(files[name])), io.BytesIO(files[name]))
            else:
                archive.addfile(_info(name, None))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return compressed.getvalue()


def write_tar_gz(path: str | os.PathLike[str], files: Mapping[str, bytes]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tar_gz_bytes(files))
    return path


def member_name(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def is_tarball(blob: bytes) -> bool:
    """gzip data, or an uncompressed tar (its `ustar` magic)."""
    return blob[:2] == _GZIP_MAGIC or (len(blob) > 262 and blob[257:262] == b"ustar")


def read_members(stream: IO[bytes], names: Iterable[str], *, origin: str,
                 max_bytes: int | None = None) -> dict[str, bytes]:
    """The wanted top-level members of the tarball read from `stream`, in one streaming pass.

    Stops as soon as all are found. Missing members are simply absent from the result; an
    unreadable archive or a wanted member above `max_bytes` raises :class:`TarballError`.
    """
    wanted = set(names)
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as archive:
            for member in archive:
                name = member_name(member.name)
                if name not in wanted or not member.isfile():
                    continue
                if max_bytes is not None and member.size > max_bytes:
                    raise TarballError(f"{origin}: {name} is {member.size} bytes, above the {max_bytes}-byte limit")
                handle = archive.extractfile(member)
                found[name] = handle.read() if handle is not None else b""
                if len(found) == len(wanted):
                    break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise TarballError(f"{origin} is not a readable tar archive ({exc})") from None
    return found


def read_member(source: str | os.PathLike[str], name: str) -> bytes:
    """One member of a tarball file, or the file `name` inside a directory holding the extracted layout."""
    path = Path(source)
    if path.is_dir():
        target = path / name
        if not target.is_file():
            raise TarballError(f"{path}: no {name}")
        return target.read_bytes()
    try:
        with path.open("rb") as stream:
            found = read_members(stream, [name], origin=str(path))
    except OSError as exc:
        raise TarballError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if name not in found:
        raise TarballError(f"{path}: no {name}")
    return found[name]
