"""The training code and sample data as deploy-time assets: which files, and the deterministic
`sourcedir.tar.gz` SageMaker script mode unpacks.

sourcedir.tar.gz holds SageMaker's entry point `train.py` at its root beside the training code set's
packages (`scones_contracts.source_files.training_code_files`: training/, scones_contracts/,
scones_imaging/), laid out as in the repo, so the training imports them the same way everywhere.
The files, their content hash (part of the training job's identity, `job_identity`) and the
tarball bytes come from `scones_contracts`' one file walk, one hash and one tarball writer: an
unchanged checkout never retrains.
"""
from __future__ import annotations

from pathlib import Path

import jsii
from aws_cdk import ILocalBundling

from scones_contracts.model_artifact import SOURCEDIR_NAME, TRAINING_ENTRY_POINT
from scones_contracts.source_files import FileList, source_files, training_code_files
from scones_contracts.tarball import tar_gz_bytes

from .config import ConfigurationError

ROOT = Path(__file__).resolve().parent.parent
TRAINING_DIR = ROOT / "training"
SAMPLE_DATA_DIR = ROOT / "data" / "sample" / "cifar100-bicycle-motorcycle"
SOURCEDIR_FORMAT = "sourcedir-v2"  # bump when the layout below changes, so the hash changes too
DATA_FORMAT = "training-data-v1"


def training_source_files() -> FileList:
    """The files of sourcedir.tar.gz: the entry point at the root, then the training code set."""
    entry = TRAINING_DIR / TRAINING_ENTRY_POINT
    if not entry.is_file():
        raise ConfigurationError(f"{entry} is missing: SageMaker script mode needs it")
    return sorted([(TRAINING_ENTRY_POINT, entry), *training_code_files(ROOT)])


def sample_data_files() -> FileList:
    """The shipped sample data set that the training job trains on."""
    return source_files(SAMPLE_DATA_DIR)


def sample_image_count() -> int:
    """Labelled images in the shipped data set (rows of its train.lst): what the training job trains on."""
    lst = SAMPLE_DATA_DIR / "train.lst"
    return sum(1 for line in lst.read_text(encoding="utf-8").splitlines() if line.strip())


def sourcedir_bytes(files: FileList) -> bytes:
    return tar_gz_bytes({name: path.read_bytes() for name, path in files})


@jsii.implements(ILocalBundling)
class SourceDirBundling:
    """Local bundling (no Docker): write the training code as the single file sourcedir.tar.gz."""

    def __init__(self, files: FileList) -> None:
        self.files = files

    def try_bundle(self, output_dir: str, _options=None, **_kwargs) -> bool:
        (Path(output_dir) / SOURCEDIR_NAME).write_bytes(sourcedir_bytes(self.files))
        return True
