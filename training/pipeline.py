"""Train -> calibrate -> package: the one code path behind `scones train` and SageMaker's train.py.

`run_training` loads the dataset, trains with a held-out stratified validation split, fits the
temperature, computes validation metrics through the served classifier, and writes the artifact
(plus `training_report.json` with timings and the progress history, kept outside the tarball so
the tarball stays byte-identical across identical runs).
"""
from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from training.artifact import ARTIFACT_NAME, artifact_files, write_artifact_dir, write_artifact_tar
from scones_contracts.baseline import Baseline
from scones_contracts.classes import CLASS_NAMES
from scones_contracts.decision import DEFAULT_THRESHOLD
from training.constants import INPUT_SIZE, NORMALIZE_MEAN, NORMALIZE_STD
from training.dataset import load_folders
from training.fingerprint import model_version, training_fingerprint
from training.metrics import classification_summary, expected_calibration_error, negative_log_likelihood
from training.model import count_parameters
from training.trainer import TrainConfig, TrainingResult, train_classifier

REPORT_NAME = "training_report.json"


@dataclass
class TrainingRun:
    """Where things were written and what was measured."""
    artifact_path: Path | None  # our model.tar.gz (None: only the directory layout was written)
    model_dir: Path | None  # extracted layout (SageMaker's SM_MODEL_DIR), if written
    report_path: Path
    metadata: dict
    baseline: Baseline
    result: TrainingResult
    report: dict


def build_baseline(result: TrainingResult, threshold: float = DEFAULT_THRESHOLD) -> Baseline:
    """Drift baseline: the calibrated probabilities of the validation images."""
    return Baseline.from_predictions(result.val_probabilities.double().tolist(), CLASS_NAMES, threshold)


def validation_metrics(result: TrainingResult, threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Validation summary after calibration, plus the uncalibrated NLL/ECE for comparison."""
    probs = result.val_probabilities.numpy()
    labels = result.val_labels.numpy()
    summary = classification_summary(probs, labels, CLASS_NAMES, threshold)
    uncalibrated = torch.softmax(result.val_raw_logits.double(), dim=1).numpy()
    summary["uncalibrated"] = {"ece": expected_calibration_error(uncalibrated, labels),
                               "nll": negative_log_likelihood(uncalibrated, labels)}
    return summary


def build_metadata(result: TrainingResult, fingerprint: dict, data_summary: dict,
                   threshold: float = DEFAULT_THRESHOLD) -> dict:
    hyperparameters = asdict(result.config)
    network = result.classifier.network
    precision = result.precision.as_metadata() if result.precision else None
    return {
        "schema_version": 1,
        # the resolved precision changes the weights as much as a hyperparameter does
        "model_version": model_version(fingerprint["sha256"], {**hyperparameters, "resolved_precision": precision}),
        "class_names": list(CLASS_NAMES),
        "input_size": [INPUT_SIZE, INPUT_SIZE],
        "input": {"channels": "RGB", "resize": "squash-bicubic-antialiased", "alpha": "composite-on-white",
                  "exif_orientation": True, "scale": "pixel/255"},
        "normalization": {"mean": list(NORMALIZE_MEAN), "std": list(NORMALIZE_STD)},
        "architecture": {"name": "resnet9-myrtle", "width": result.config.width, "members": len(network.members),
                         "logit_scale": network.members[0].logit_scale, "parameters": count_parameters(network)},
        "temperature": result.classifier.temperature,
        "flip_tta": result.classifier.flip_tta,
        "precision": precision,
        "threshold": float(threshold),
        "validation": validation_metrics(result, threshold),
        "hyperparameters": hyperparameters,
        "fingerprint": fingerprint,
        "training_data": data_summary,
        "torch_version": torch.__version__.split("+")[0],
    }


def run_training(data_dir: Path | str | list[Path | str], config: TrainConfig, model_dir: Path | str,
                 lst: Path | str | None = None,
                 layout: str = "tar", output_data_dir: Path | str | None = None,
                 log: Callable[[str], None] = print, log_every: int = 0,
                 threshold: float = DEFAULT_THRESHOLD) -> TrainingRun:
    """Train on `data_dir` (one dataset folder, or several read as one: `training.dataset.load_folders`)
    and write the artifact; validation metrics and the drift baseline are computed at the routing
    `threshold`, which metadata.json and baseline.json record.

    layout "tar" (local default): `<model_dir>/model.tar.gz`.
    layout "dir" (SageMaker: model_dir = SM_MODEL_DIR, which SageMaker tars itself): the extracted
    files in model_dir, plus our deterministic model.tar.gz in `output_data_dir` when given.
    training_report.json goes to output_data_dir if given, else beside the tarball / into model_dir.
    """
    if layout not in ("tar", "dir"):
        raise ValueError(f"layout must be 'tar' or 'dir', got {layout!r}")
    started = time.perf_counter()
    folders = [Path(d) for d in data_dir] if isinstance(data_dir, (list, tuple)) else [Path(data_dir)]
    data, lists = load_folders(folders, lst)
    sources = lists[0] if len(lists) == 1 else f"{len(lists)} lists in {', '.join(map(str, folders))}"
    log(f"loaded {len(data)} images from {sources} ({data.class_counts()}) in {time.perf_counter() - started:.1f}s")
    result = train_classifier(data, config, log=log, log_every=log_every)

    fingerprint = training_fingerprint(lists, data.files)
    data_summary = {"lst": lists[0].name, "n_lists": len(lists), "folders": [f.name for f in folders],
                    "n_images": len(data), "class_counts": data.class_counts(),
                    "n_train": len(data) - len(result.val_indices), "n_validation": len(result.val_indices)}
    metadata = build_metadata(result, fingerprint, data_summary, threshold)
    baseline = build_baseline(result, threshold)
    files = artifact_files(result.classifier.network, metadata, baseline)

    model_dir = Path(model_dir)
    written_dir, written_tar = None, None
    if layout == "tar":
        written_tar = write_artifact_tar(model_dir / ARTIFACT_NAME, files)
    else:
        written_dir = write_artifact_dir(model_dir, files)
        if output_data_dir is not None:
            written_tar = write_artifact_tar(Path(output_data_dir) / ARTIFACT_NAME, files)
    report = {
        "model_version": metadata["model_version"],
        "artifact": str(written_tar) if written_tar else None,
        "model_dir": str(written_dir) if written_dir else None,
        "train_seconds": round(result.train_seconds, 2),
        "train_cpu_seconds": round(result.train_cpu_seconds, 2),
        "total_seconds": round(time.perf_counter() - started, 2),
        "threads": config.threads,
        "precision": metadata["precision"],
        "machine": platform.machine(),
        "validation": metadata["validation"],
        "temperature": metadata["temperature"],
        "history": result.history,
    }
    report_dir = Path(output_data_dir) if output_data_dir is not None else model_dir
    report_dir.mkdir(parents=True, exist_ok=True)
    report_path = report_dir / REPORT_NAME
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    val = metadata["validation"]
    log(f"validation: accuracy {val['accuracy']:.4f}, coverage@{val['threshold']} {val['coverage']:.4f}, "
        f"selective accuracy {val['selective_accuracy']}, ECE {val['ece']:.4f}; model {metadata['model_version']}")
    log("wrote " + " and ".join(str(p) for p in (written_tar, written_dir) if p))
    return TrainingRun(written_tar, written_dir, report_path, metadata, baseline, result, report)
