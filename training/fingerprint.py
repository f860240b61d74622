"""Content fingerprints: which data and which code produced a model.

`fingerprint` = sha256 over the training list file(s), every image they name, and the training code
(`scones_contracts.source_files.training_code_sha256`: the same files, by the same rule, that the
training job's name hashes and that ship in sourcedir.tar.gz and the artifact's code/), so the
same inputs always give the same value and any change gives a new one. `model_version` also folds
in the hyperparameters (seed, steps, ...) so two models trained from the same data and code with
different settings do not share a version.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from scones_contracts.source_files import training_code_sha256

# The folder holding the training code set side by side: the repo, or the SageMaker source directory.
CODE_ROOT = Path(__file__).resolve().parent.parent


def data_sha256(lst_paths: Path | list[Path], image_files: list[Path]) -> str:
    """sha256 of the list files' bytes (in order) and each listed image (name + content), in list order.
    One list file gives the same value as ever (a cached model of the same data stays valid)."""
    digest = hashlib.sha256()
    for lst_path in [lst_paths] if isinstance(lst_paths, (str, Path)) else lst_paths:
        digest.update(Path(lst_path).read_bytes())
    for path in image_files:
        digest.update(Path(path).name.encode() + b"\0")
        digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
    return digest.hexdigest()


def training_fingerprint(lst_paths: Path | list[Path], image_files: list[Path], code_root: Path = CODE_ROOT) -> dict:
    data_hash, code_hash = data_sha256(lst_paths, image_files), training_code_sha256(code_root)
    combined = hashlib.sha256(f"data:{data_hash}\ncode:{code_hash}\n".encode()).hexdigest()
    return {"sha256": combined, "data_sha256": data_hash, "code_sha256": code_hash}


def model_version(fingerprint_sha256: str, hyperparameters: dict) -> str:
    """Short, stable version id: 'r9-' + 12 hex of sha256(fingerprint + canonical hyperparameters)."""
    canonical = json.dumps(hyperparameters, sort_keys=True, separators=(",", ":"))
    return "r9-" + hashlib.sha256(f"{fingerprint_sha256}\n{canonical}".encode()).hexdigest()[:12]
