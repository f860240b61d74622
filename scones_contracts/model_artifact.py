"""The names SageMaker and our code agree on for the model artifact and the training source.

model.tar.gz (SageMaker's PyTorch layout; written by training/artifact.py, read by the endpoint,
the training-job provider's evaluation gate and the drift check)::

    model.pth            weights
    metadata.json        class names, threshold, validation metrics, model_version, ...
    baseline.json        the drift baseline (scones_contracts.baseline)
    code/inference.py    the serving entry point SageMaker's PyTorch container loads
    code/...             the training code set (scones_contracts.source_files.TRAINING_CODE_PACKAGES)

sourcedir.tar.gz (the training job's code): `train.py` at the root (`sagemaker_program`) beside the
training code set's packages.
"""
from __future__ import annotations

ARTIFACT_NAME = "model.tar.gz"
WEIGHTS_FILE = "model.pth"
METADATA_FILE = "metadata.json"
BASELINE_FILE = "baseline.json"
CODE_DIR = "code"
INFERENCE_ENTRY_POINT = "inference.py"  # SageMaker's name for the serving entry point
TRAINING_ENTRY_POINT = "train.py"
SOURCEDIR_NAME = "sourcedir.tar.gz"


class ArtifactError(ValueError):
    """A model artifact is missing, unreadable, or lacks a file or field its reader needs."""
