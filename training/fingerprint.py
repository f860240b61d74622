"""Content fingerprints: which data and which code produced a model.

`fingerprint` = sha256 over the training list file, every image it names and the training
package's source, so the same inputs always give the same value and any change gives a new one.
`model_version` also folds in the hyperparameters (seed, steps, ...) so two models trained from
the same data and code with different settings do not share a version.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def training_code_files(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The package's Python sources, sorted (what is hashed and shipped in the artifact)."""
    return sorted(p for p in package_dir.rglob("*.py") if "__pycache__" not in p.parts)


def _hash_files(paths: list[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def data_sha256(lst_path: Path, image_files: list[Path]) -> str:
    """sha256 of the list file's bytes and each listed image (name + content), in list order."""
    digest = hashlib.sha256(Path(lst_path).read_bytes())
    for path in image_files:
        digest.update(Path(path).name.encode() + b"\0")
        digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
    return digest.hexdigest()


def code_sha256(package_dir: Path = PACKAGE_DIR) -> str:
    return _hash_files(training_code_files(package_dir), package_dir)


def training_fingerprint(lst_path: Path, image_files: list[Path], package_dir: Path = PACKAGE_DIR) -> dict:
    data_hash, code_hash = data_sha256(lst_path, image_files), code_sha256(package_dir)
    combined = hashlib.sha256(f"data:{data_hash}\ncode:{code_hash}\n".encode()).hexdigest()
    return {"sha256": combined, "data_sha256": data_hash, "code_sha256": code_hash}


def model_version(fingerprint_sha256: str, hyperparameters: dict) -> str:
    """Short, stable version id: 'r9-' + 12 hex of sha256(fingerprint + canonical hyperparameters)."""
    canonical = json.dumps(hyperparameters, sort_keys=True, separators=(",", ":"))
    return "r9-" + hashlib.sha256(f"{fingerprint_sha256}\n{canonical}".encode()).hexdigest()[:12]
