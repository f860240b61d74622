"""The training code and sample data as deploy-time assets: which files, their content hash, and
the deterministic `sourcedir.tar.gz` SageMaker script mode unpacks.

The hashes are part of the training job's identity (`job_identity.training_job_name`): the same
files give the same hash on every machine, so an unchanged checkout never retrains.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import jsii
from aws_cdk import ILocalBundling

from .config import ConfigurationError

ROOT = Path(__file__).resolve().parent.parent
TRAINING_DIR = ROOT / "training"
SAMPLE_DATA_DIR = ROOT / "data" / "sample" / "cifar100-bicycle-motorcycle"
TRAINING_ENTRY_POINT = "train.py"
SOURCEDIR_NAME = "sourcedir.tar.gz"
SOURCEDIR_FORMAT = "sourcedir-v1"  # bump when the packaging below changes, so the hash changes too
DATA_FORMAT = "training-data-v1"
_IGNORED_PARTS = ("__pycache__", ".pytest_cache")
_IGNORED_SUFFIXES = (".pyc", ".pyo")


def package_files(base: Path) -> list[tuple[str, Path]]:
    """(posix path relative to base, path) of every file, sorted by that relative path."""
    files = []
    for path in base.rglob("*"):
        rel = path.relative_to(base)
        if path.is_file() and not any(p in _IGNORED_PARTS for p in rel.parts) and path.suffix not in _IGNORED_SUFFIXES:
            files.append((rel.as_posix(), path))
    return sorted(files)


def training_source_files() -> list[tuple[str, Path]]:
    """The files of the training package that go into sourcedir.tar.gz (entry point at the root)."""
    files = package_files(TRAINING_DIR)
    if TRAINING_ENTRY_POINT not in {name for name, _ in files}:
        raise ConfigurationError(f"{TRAINING_DIR / TRAINING_ENTRY_POINT} is missing: SageMaker script mode needs it")
    return files


def sample_data_files() -> list[tuple[str, Path]]:
    """The shipped sample data set that the training job trains on."""
    return package_files(SAMPLE_DATA_DIR)


def content_hash(files: list[tuple[str, Path]], salt: str) -> str:
    """sha256 over a format tag and each file's relative path and bytes: the same on every machine."""
    digest = hashlib.sha256(salt.encode() + b"\0")
    for name, path in files:
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def sourcedir_bytes(files: list[tuple[str, Path]]) -> bytes:
    """Deterministic tar.gz: sorted members, fixed mtime/owner/mode, gzip header without a timestamp."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        directories = sorted({"/".join(n.split("/")[:i]) for n, _ in files for i in range(1, n.count("/") + 1)})
        for name in sorted([n for n, _ in files] + directories):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if name in directories:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
            else:
                data = dict(files)[name].read_bytes()
                info.size, info.mode = len(data), 0o644
                archive.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


@jsii.implements(ILocalBundling)
class SourceDirBundling:
    """Local bundling (no Docker): write the training package as the single file sourcedir.tar.gz."""

    def __init__(self, files: list[tuple[str, Path]]) -> None:
        self.files = files

    def try_bundle(self, output_dir: str, _options=None, **_kwargs) -> bool:
        (Path(output_dir) / SOURCEDIR_NAME).write_bytes(sourcedir_bytes(self.files))
        return True
