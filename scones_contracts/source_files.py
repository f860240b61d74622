"""The one file walk and the one content hash: what "these files changed" means everywhere.

Inclusion rule: every regular file under a folder, except Python's and pytest's caches
(`__pycache__/`, `.pytest_cache/`, `*.pyc`, `*.pyo`). It decides what goes into a Lambda asset
and its hash, into sourcedir.tar.gz and the training job's name, into the artifact's code/ folder,
and what the training's `model_version` hashes, so "the training code changed" means the same
for all of them.

The training code set is `TRAINING_CODE_PACKAGES`, found side by side under one root (the repo,
the SageMaker source directory and the artifact's code/ folder share that layout).
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

IGNORED_DIRS = ("__pycache__", ".pytest_cache")
IGNORED_SUFFIXES = (".pyc", ".pyo")
TRAINING_CODE_PACKAGES = ("training", "scones_contracts", "scones_imaging")

FileList = list[tuple[str, Path]]


def source_files(folder: str | os.PathLike[str], prefix: str = "") -> FileList:
    """(`prefix` + posix path relative to `folder`, path) of every included file, sorted by name."""
    base = Path(folder)
    files = []
    for path in base.rglob("*"):
        relative = path.relative_to(base)
        if (path.is_file() and not any(part in IGNORED_DIRS for part in relative.parts)
                and path.suffix not in IGNORED_SUFFIXES):
            files.append((prefix + relative.as_posix(), path))
    return sorted(files)


def package_files(root: str | os.PathLike[str], packages: Iterable[str]) -> FileList:
    """The files of top-level `packages` under `root`, named `<package>/<path>`."""
    files: FileList = []
    for package in packages:
        folder = Path(root) / package
        if not (folder / "__init__.py").is_file():
            raise FileNotFoundError(f"{folder} is not a Python package")
        files += source_files(folder, f"{package}/")
    return sorted(files)


def training_code_files(root: str | os.PathLike[str]) -> FileList:
    """The training code set under `root` (the repo root, or a folder laid out like it)."""
    return package_files(root, TRAINING_CODE_PACKAGES)


def files_sha256(files: Iterable[tuple[str, Path]], salt: str = "") -> str:
    """sha256 over `salt` and each file's name and content hash, in order: the same on every machine."""
    digest = hashlib.sha256(salt.encode() + b"\0")
    for name, path in files:
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
    return digest.hexdigest()


def training_code_sha256(root: str | os.PathLike[str]) -> str:
    """The training code's identity: part of the training job's name and of `model_version`."""
    return files_sha256(training_code_files(root))
