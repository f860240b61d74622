"""The model artifact: a deterministic `model.tar.gz` in the SageMaker PyTorch layout, and readers.

Layout (also the layout of an extracted directory):
    model.pth               state_dict of the ResNet-9 ensemble (fp32; `members.<k>.` per member)
    metadata.json           class names, input size, normalisation, temperature, validation
                            metrics, hyperparameters, fingerprint, model_version
    baseline.json           calibrated confidences on the validation split (drift checker input)
    code/inference.py       thin shim re-exporting the handlers of training.serve
    code/training/*.py      this package, so the endpoint runs the exact training-time preprocessing

Tar members are sorted with fixed mtime/uid/gid/mode and the gzip header has mtime 0, so the same
weights and metadata always give the same bytes (and the same S3 ETag).
"""
from __future__ import annotations

import gzip
import io
import json
import tarfile
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

from training.fingerprint import PACKAGE_DIR, training_code_files
from training.model import CalibratedClassifier, Ensemble, ResNet9

ARTIFACT_NAME = "model.tar.gz"
WEIGHTS_FILE = "model.pth"
METADATA_FILE = "metadata.json"
BASELINE_FILE = "baseline.json"
CODE_DIR = "code"
FIXED_MTIME = 0

INFERENCE_SHIM = '''"""SageMaker PyTorch inference entry point.

The handlers live in training.serve, shipped beside this file as code/training/, so the endpoint
runs the same preprocessing and prediction code as training and `scones evaluate`.
"""
import os
import sys

_CODE_DIR = os.path.dirname(os.path.abspath(__file__))
if _CODE_DIR not in sys.path:
    sys.path.insert(0, _CODE_DIR)

from training.serve import (  # noqa: E402,F401
    InferenceError,
    InvalidImageError,
    ImageTooLargeError,
    UnsupportedContentTypeError,
    UnsupportedAcceptError,
    input_fn,
    model_fn,
    output_fn,
    predict_fn,
)
'''


class ArtifactError(ValueError):
    """The artifact is missing a file or is not in the expected layout."""


def json_bytes(document: dict) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def state_dict_bytes(network: torch.nn.Module) -> bytes:
    """torch.save of the contiguous fp32 state_dict (torch's zip writer is itself deterministic)."""
    state = {k: v.detach().contiguous().clone() for k, v in network.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def artifact_files(network: torch.nn.Module, metadata: dict, baseline: dict,
                   package_dir: Path = PACKAGE_DIR) -> dict[str, bytes]:
    """Every file of the artifact as {relative posix path: bytes}."""
    files = {
        WEIGHTS_FILE: state_dict_bytes(network),
        METADATA_FILE: json_bytes(metadata),
        BASELINE_FILE: json_bytes(baseline),
        f"{CODE_DIR}/inference.py": INFERENCE_SHIM.encode("utf-8"),
    }
    for path in training_code_files(package_dir):
        files[f"{CODE_DIR}/training/{path.relative_to(package_dir).as_posix()}"] = path.read_bytes()
    return files


def _tar_info(name: str, size: int | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = FIXED_MTIME, 0, 0, "", ""
    if size is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    else:
        info.size, info.mode = size, 0o644
    return info


def tar_gz_bytes(files: dict[str, bytes]) -> bytes:
    """Deterministic tar.gz: sorted members (directories first in path order), fixed metadata."""
    directories = sorted({"/".join(name.split("/")[:i]) for name in files for i in range(1, name.count("/") + 1)})
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name in sorted(list(files) + directories):
            if name in files:
                archive.addfile(_tar_info(name, len(files[name])), io.BytesIO(files[name]))
            else:
                archive.addfile(_tar_info(name, None))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return compressed.getvalue()


def write_artifact_tar(out_path: Path, files: dict[str, bytes]) -> Path:
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(tar_gz_bytes(files))
    return out_path


def write_artifact_dir(out_dir: Path, files: dict[str, bytes]) -> Path:
    """The extracted layout (what SageMaker training expects in SM_MODEL_DIR; it tars it itself)."""
    out_dir = Path(out_dir)
    for name, content in files.items():
        target = out_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return out_dir


# ---------------------------------------------------------------- reading back

def _read_member(path: Path, name: str) -> bytes:
    path = Path(path)
    if path.is_dir():
        target = path / name
        if not target.is_file():
            raise ArtifactError(f"{path}: no {name}")
        return target.read_bytes()
    try:
        with tarfile.open(path, "r:gz") as archive:
            handle = archive.extractfile(name)
            if handle is None:
                raise ArtifactError(f"{path}: {name} is not a regular file")
            return handle.read()
    except KeyError:
        raise ArtifactError(f"{path}: no {name}") from None
    except (tarfile.TarError, OSError) as exc:
        raise ArtifactError(f"{path}: not a readable model.tar.gz ({exc})") from exc


def load_metadata(path: Path | str) -> dict:
    """metadata.json from a model.tar.gz or an extracted artifact directory."""
    return json.loads(_read_member(Path(path), METADATA_FILE))


def load_baseline(path: Path | str) -> dict:
    """baseline.json (validation confidences for the drift checker)."""
    return json.loads(_read_member(Path(path), BASELINE_FILE))


def load_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    return torch.load(io.BytesIO(_read_member(Path(path), WEIGHTS_FILE)), map_location="cpu", weights_only=True)


def classifier_from(metadata: dict, state_dict: dict[str, torch.Tensor]) -> CalibratedClassifier:
    """Rebuild the calibrated classifier (eval mode, fp32) described by metadata."""
    arch = metadata["architecture"]
    network = Ensemble([ResNet9(num_classes=len(metadata["class_names"]), width=int(arch["width"]),
                                logit_scale=float(arch["logit_scale"])) for _ in range(int(arch["members"]))])
    network.load_state_dict(state_dict)
    return CalibratedClassifier(network, float(metadata["temperature"]), bool(metadata.get("flip_tta", True))).eval()


def load_classifier(path: Path | str) -> tuple[CalibratedClassifier, dict]:
    """(classifier, metadata) from a model.tar.gz or an extracted artifact directory."""
    metadata = load_metadata(path)
    return classifier_from(metadata, load_state_dict(path)), metadata


@contextmanager
def extracted_artifact(path: Path | str) -> Iterator[Path]:
    """Yield a directory with the artifact's files: the path itself if it is one, else a temp extraction."""
    path = Path(path)
    if path.is_dir():
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="scones-model-") as tmp:
        try:
            with tarfile.open(path, "r:gz") as archive:
                archive.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise ArtifactError(f"{path}: not a readable model.tar.gz ({exc})") from exc
        yield Path(tmp)
