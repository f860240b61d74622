"""`scones evaluate` / `scones train` / `scones etl`-free flows, SageMaker's train.py contract, and the bench."""
from __future__ import annotations

import io
import json
import os
import site
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from scones.cli import main as scones_main
from stacks.sourcedir import sourcedir_bytes, training_source_files
from training.bench import run_model_bench
from tests.training.training_test_support import write_labels_folder
from training.constants import SAMPLE_DATA_DIR



@pytest.fixture(scope="module")
def validation_list(tiny_run, tmp_path_factory) -> Path:
    """A .lst naming exactly the tiny model's held-out validation images (in the sample's train/)."""
    entries = [line.split("\t") for line in (SAMPLE_DATA_DIR / "train.lst").read_text().splitlines()]
    # no validation/ folder in the data dir, so paths are relative to the data dir itself
    rows = [f"{entries[i][0]}\t{entries[i][1]}\ttrain/{entries[i][2]}\n" for i in tiny_run.result.val_indices.tolist()]
    path = tmp_path_factory.mktemp("lists") / "validation.lst"
    path.write_text("".join(rows))
    return path


def run_cli(argv: list[str], capsys) -> str:
    assert scones_main(argv) == 0
    return capsys.readouterr().out


def test_evaluate_prints_json_last_line_and_writes_plots(tiny_run, tiny_model_path, validation_list, tmp_path, capsys):
    out = run_cli(["evaluate", "--model", str(tiny_model_path), "--data", str(SAMPLE_DATA_DIR), "--lst", str(validation_list), "--json",
                   "--plots", str(tmp_path / "plots")], capsys)
    result = json.loads(out.strip().splitlines()[-1])
    for key in ("n", "accuracy", "threshold", "coverage", "selective_accuracy", "ece", "confusion"):
        assert key in result
    assert result["n"] == 200 and result["threshold"] == 0.93
    assert result["confusion"]["labels"] == ["bicycle", "motorcycle"]
    assert np.sum(result["confusion"]["matrix"]) == 200
    assert np.array(result["confusion"]["matrix"]).sum(axis=1).tolist() == [100, 100]
    # same images, same served model: evaluate reproduces the training-time validation metrics
    validation = tiny_run.metadata["validation"]
    assert result["accuracy"] == pytest.approx(validation["accuracy"])
    assert result["coverage"] == pytest.approx(validation["coverage"])
    assert result["ece"] == pytest.approx(validation["ece"], abs=1e-4)
    for name in ("confusion_matrix", "reliability_diagram", "confidence_histogram"):
        png = tmp_path / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_evaluate_threshold_flag_and_human_output(tiny_run, tiny_model_path, validation_list, capsys):
    out = run_cli(["evaluate", "--model", str(tiny_model_path), "--data", str(SAMPLE_DATA_DIR),
                   "--lst", str(validation_list), "--threshold", "0.999", "--json"], capsys)
    strict = json.loads(out.strip().splitlines()[-1])
    assert strict["threshold"] == 0.999 and strict["n"] == 200
    assert strict["coverage"] <= 0.5 and strict["accuracy"] == pytest.approx(tiny_run.metadata["validation"]["accuracy"])
    human = run_cli(["evaluate", "--model", str(tiny_model_path), "--data", str(SAMPLE_DATA_DIR),
                     "--lst", str(validation_list)], capsys)
    assert "accuracy" in human and "selective accuracy" in human


# SageMaker's container: python runs the entry point of the unpacked source directory; only
# third-party packages are installed (site-packages without .pth files: no editable project install).
RUN_AS_SAGEMAKER = r"""
import runpy, sys
sys.path.extend(sys.argv[1].split(":"))
sys.argv = ["train.py", *sys.argv[2:]]
runpy.run_path("train.py", run_name="__main__")
"""


def test_sagemaker_script_mode_contract(tmp_path, make_subset):
    """train.py --hyperparameters with SM_* variables, from the unpacked sourcedir.tar.gz alone, as SageMaker's
    PyTorch container runs it."""
    code_dir = tmp_path / "code"
    with tarfile.open(fileobj=io.BytesIO(sourcedir_bytes(training_source_files())), mode="r:gz") as archive:
        archive.extractall(code_dir, filter="data")
    data_dir = make_subset(tmp_path / "channel", 30)
    labels_dir = reviewed_labels(tmp_path / "labels-channel", make_subset(tmp_path / "more", 2, start=100))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "PYTHON"))}
    env.update(SM_CHANNEL_TRAINING=str(data_dir), SM_CHANNEL_LABELS=str(labels_dir), SM_MODEL_DIR=str(tmp_path / "model"),
               SM_OUTPUT_DATA_DIR=str(tmp_path / "output"), SM_NUM_CPUS="1", SM_CHANNELS='["labels", "training"]')
    completed = subprocess.run(
        [sys.executable, "-S", "-s", "-c", RUN_AS_SAGEMAKER, ":".join(site.getsitepackages()),
         "--epochs", "2", "--width", "4", "--batch-size", "16", "--seed", "1",
         "--flip-tta", "true", "--sagemaker_unknown", "x"],
        cwd=code_dir, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert "epoch   2/2" in completed.stderr and "ignoring unknown arguments" in completed.stderr
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    assert summary["validation"]["n"] == 12
    model_dir = tmp_path / "model"
    assert {p.name for p in model_dir.iterdir()} == {"model.pth", "metadata.json", "baseline.json", "code"}
    assert (model_dir / "code" / "inference.py").is_file() and (model_dir / "code" / "training" / "serve.py").is_file()
    assert (model_dir / "code" / "scones_imaging" / "decode.py").is_file()
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["hyperparameters"]["threads"] == 1 and metadata["hyperparameters"]["epochs"] == 2
    # both channels: the training data and the reviewed labels (every SM_CHANNEL_* but test/validation)
    assert metadata["training_data"]["n_images"] == 64 and metadata["training_data"]["n_lists"] == 5
    with tarfile.open(tmp_path / "output" / "model.tar.gz", "r:gz") as archive:
        assert json.load(archive.extractfile("metadata.json")) == metadata
    report = json.loads((tmp_path / "output" / "training_report.json").read_text())
    assert report["model_version"] == metadata["model_version"] and report["history"]


def test_scones_train_writes_tarball_and_report(tmp_path, make_subset, capsys):
    data_dir = make_subset(tmp_path / "data", 20)
    out = run_cli(["train", "--data", str(data_dir), "--model-dir", str(tmp_path / "out"), "--steps", "2",
                   "--width", "4", "--batch-size", "8", "--threads", "1", "--val-fraction", "0.25"], capsys)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["artifact"] == str(tmp_path / "out" / "model.tar.gz")
    assert (tmp_path / "out" / "model.tar.gz").is_file() and (tmp_path / "out" / "training_report.json").is_file()
    assert summary["validation"]["n"] == 10


def reviewed_labels(root: Path, source: Path) -> Path:
    """The examples of a small dataset folder rewritten as reviewer labels (scones_contracts.labels layout)."""
    rows = [line.split("\t") for line in (source / "train.lst").read_text().splitlines() if line.strip()]
    return write_labels_folder(root, [(f"review-{i}", ("bicycle", "motorcycle")[int(label)],
                                       (source / "train" / name).read_bytes()) for i, (_, label, name) in enumerate(rows)])


def test_scones_train_on_several_data_folders_with_reviewed_labels(tmp_path, make_subset, capsys):
    base = make_subset(tmp_path / "base", 10)
    labels = reviewed_labels(tmp_path / "labels", make_subset(tmp_path / "reviewed", 2, start=50))
    out = run_cli(["train", "--data", str(base), "--data", str(labels), "--model-dir", str(tmp_path / "out"),
                   "--steps", "2", "--width", "4", "--batch-size", "8", "--threads", "1", "--val-fraction", "0.25"],
                  capsys)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["validation"]["n"] == 6  # 12 images of each class, a quarter held out
    from training.artifact import load_metadata

    metadata = load_metadata(tmp_path / "out" / "model.tar.gz")
    assert metadata["training_data"]["n_images"] == 24 and metadata["training_data"]["n_lists"] == 5
    assert metadata["training_data"]["class_counts"] == {"bicycle": 12, "motorcycle": 12}
    assert metadata["training_data"]["folders"] == ["base", "labels"]
    # the reviewed examples are part of what the model version is derived from
    alone = json.loads(run_cli(["train", "--data", str(base), "--model-dir", str(tmp_path / "alone"), "--steps", "2",
                                "--width", "4", "--batch-size", "8", "--threads", "1", "--val-fraction", "0.25"],
                               capsys).strip().splitlines()[-1])
    assert alone["model_version"] != summary["model_version"]


def test_scones_train_names_a_bad_data_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert scones_main(["train", "--data", str(SAMPLE_DATA_DIR), "--data", str(tmp_path / "empty"),
                        "--model-dir", str(tmp_path / "out"), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert f"scones train: {tmp_path / 'empty'}: no train.lst and no lists/*.lst label fragments" in err


def test_bench_reports_quality_latency_and_throughput(tiny_model_path):
    logs: list[str] = []
    results = run_model_bench(SAMPLE_DATA_DIR, model_path=tiny_model_path, latency_calls=20,
                              throughput_batch=16, log=logs.append)
    for key in ("val_accuracy", "coverage", "selective_accuracy", "ece", "threshold"):
        assert key in results
    assert 0 < results["latency"]["p50_ms"] <= results["latency"]["p99_ms"]
    assert results["latency"]["threads"] == 1 and results["latency"]["calls"] == 20
    assert results["throughput"]["batch_size"] == 16 and results["throughput"]["images_per_s"] > 0
    assert "latency" in logs[-1]
