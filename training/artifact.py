"""The model artifact: a deterministic `model.tar.gz` in the SageMaker PyTorch layout, and its readers.

Layout (also the layout of an extracted directory; names from `scones_contracts.model_artifact`):
    model.pth               state_dict of the ResNet-9 ensemble (fp32; `members.<k>.` per member)
    metadata.json           class names, input size, normalisation, temperature, threshold, validation
                            metrics, hyperparameters, fingerprint, model_version
    baseline.json           the drift baseline (`scones_contracts.baseline.Baseline`)
    code/inference.py       thin shim re-exporting the handlers of training.serve
    code/<package>/...      the training code set (`scones_contracts.source_files.training_code_files`),
                            so the endpoint runs the exact training-time preprocessing

The tarball is written by `scones_contracts.tarball` (sorted members, fixed metadata, no gzip
timestamp), so the same weights and metadata always give the same bytes (and the same S3 ETag).
"""
from __future__ import annotations

import io
import json
import tarfile
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

from scones_contracts.baseline import Baseline, BaselineError
from scones_contracts.model_artifact import (ARTIFACT_NAME, BASELINE_FILE, CODE_DIR, INFERENCE_ENTRY_POINT,
                                             METADATA_FILE, WEIGHTS_FILE, ArtifactError)
from scones_contracts.source_files import training_code_files
from scones_contracts.tarball import TarballError, read_member, write_tar_gz
from training.fingerprint import CODE_ROOT
from training.model import CalibratedClassifier, Ensemble, ResNet9

__all__ = ["ARTIFACT_NAME", "ArtifactError", "artifact_files", "classifier_from", "extracted_artifact",
           "load_baseline", "load_classifier", "load_metadata", "load_state_dict", "write_artifact_dir",
           "write_artifact_tar"]

INFERENCE_SHIM = '''"""SageMaker PyTorch inference entry point.

The handlers live in training.serve, shipped beside this file as code/training/ (with the packages
it imports, code/scones_contracts/ and code/scones_imaging/), so the endpoint runs the same
preprocessing and prediction code as training and `scones evaluate`.
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


def json_bytes(document: dict) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def state_dict_bytes(network: torch.nn.Module) -> bytes:
    """torch.save of the contiguous fp32 state_dict (torch's zip writer is itself deterministic)."""
    state = {k: v.detach().contiguous().clone() for k, v in network.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def artifact_files(network: torch.nn.Module, metadata: dict, baseline: Baseline,
                   code_root: Path = CODE_ROOT) -> dict[str, bytes]:
    """Every file of the artifact as {relative posix path: bytes}."""
    files = {
        WEIGHTS_FILE: state_dict_bytes(network),
        METADATA_FILE: json_bytes(metadata),
        BASELINE_FILE: baseline.to_json_bytes(),
        f"{CODE_DIR}/{INFERENCE_ENTRY_POINT}": INFERENCE_SHIM.encode("utf-8"),
    }
    for name, path in training_code_files(code_root):
        files[f"{CODE_DIR}/{name}"] = path.read_bytes()
    return files


def write_artifact_tar(out_path: Path, files: dict[str, bytes]) -> Path:
    return write_tar_gz(out_path, files)


def write_artifact_dir(out_dir: Path, files: dict[str, bytes]) -> Path:
    """The extracted layout (what SageMaker training expects in SM_MODEL_DIR; it tars it itself)."""
    out_dir = Path(out_dir)
    for name, content in files.items():
        target = out_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return out_dir


# ---------------------------------------------------------------- reading back

def _read_member(path: Path | str, name: str) -> bytes:
    try:
        return read_member(path, name)
    except TarballError as exc:
        raise ArtifactError(str(exc)) from None


def load_metadata(path: Path | str) -> dict:
    """metadata.json from a model.tar.gz or an extracted artifact directory."""
    return json.loads(_read_member(path, METADATA_FILE))


def load_baseline(path: Path | str) -> Baseline:
    """The drift baseline from a model.tar.gz or an extracted artifact directory."""
    try:
        return Baseline.from_bytes(_read_member(path, BASELINE_FILE), origin=f"{path}!{BASELINE_FILE}")
    except BaselineError as exc:
        raise ArtifactError(str(exc)) from None


def load_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    return torch.load(io.BytesIO(_read_member(path, WEIGHTS_FILE)), map_location="cpu", weights_only=True)


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
