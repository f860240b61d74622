"""Shared fixtures: ONE tiny real model trained once per test worker, sample images, small datasets."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.training.training_test_support import TINY_CONFIG
from training.constants import SAMPLE_DATA_DIR
from training.dataset import read_list_file


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A real training run on the 1000 sample images (800 train / 200 held out), width 8, 5 epochs."""
    from training.pipeline import run_training

    logs: list[str] = []
    run = run_training(SAMPLE_DATA_DIR, TINY_CONFIG, tmp_path_factory.mktemp("tiny-model"), log=logs.append)
    run.logs = logs
    return run


@pytest.fixture(scope="session")
def tiny_model_path(tiny_run) -> Path:
    return tiny_run.artifact_path


@pytest.fixture(scope="session")
def loaded_model(tiny_model_path):
    from training.serve import model_fn

    return model_fn(tiny_model_path)


@pytest.fixture(scope="session")
def sample_entries():
    return read_list_file(SAMPLE_DATA_DIR / "train.lst")


@pytest.fixture(scope="session")
def sample_png_bytes(sample_entries) -> bytes:
    return (SAMPLE_DATA_DIR / "train" / sample_entries[0].relative_path).read_bytes()


@pytest.fixture(scope="session")
def make_subset():
    """Factory: make_subset(out_dir, count_per_class) -> a small class-balanced copy of the sample data."""
    return _make_subset


def _make_subset(out_dir: Path, count_per_class: int, start: int = 0) -> Path:
    """Copy a class-balanced slice of the sample data into out_dir (train/ + train.lst)."""
    entries = read_list_file(SAMPLE_DATA_DIR / "train.lst")
    chosen = []
    for label in (0, 1):
        chosen += [e for e in entries if e.label == label][start:start + count_per_class]
    (out_dir / "train").mkdir(parents=True, exist_ok=True)
    rows = []
    for e in chosen:
        shutil.copyfile(SAMPLE_DATA_DIR / "train" / e.relative_path, out_dir / "train" / e.relative_path)
        rows.append(f"{e.index}\t{e.label}\t{e.relative_path}\n")
    (out_dir / "train.lst").write_text("".join(rows))
    return out_dir

