"""Evaluate a model artifact on a labelled image set through the serving handlers.

Each image file's bytes go through `serve.input_fn` (decode, EXIF, alpha, resize, normalise) and
batches through `serve.predict_fn`, the exact code the endpoint runs, so the numbers describe
what production will do. The result is one JSON-ready dict (see `evaluate_model`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from scones_contracts.decision import DEFAULT_THRESHOLD
from training.dataset import DatasetError, image_root_for, read_list_file, resolve_list_path
from training.metrics import classification_summary
from training.serve import input_fn, model_fn, predict_fn

CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


def content_type_for(path: Path) -> str:
    """Request content type for a file, by extension (unknown -> application/x-image, i.e. sniffed)."""
    return CONTENT_TYPES.get(path.suffix.lower(), "application/x-image")


def predict_files(model, paths: list[Path], batch_size: int = 64) -> np.ndarray:
    """Calibrated probabilities (N, C) for image files, via input_fn -> predict_fn."""
    rows = []
    for start in range(0, len(paths), batch_size):
        batch = torch.cat([input_fn(p.read_bytes(), content_type_for(p)) for p in paths[start:start + batch_size]])
        rows.append(predict_fn(batch, model).probabilities)
    return np.concatenate(rows) if rows else np.empty((0, len(model.class_names)))


def evaluate_model(model_path: Path | str, data_dir: Path | str, lst: Path | str | None = None,
                   threshold: float = DEFAULT_THRESHOLD, plots_dir: Path | str | None = None,
                   batch_size: int = 64, log: Callable[[str], None] | None = None) -> dict:
    """Metrics of the artifact at `model_path` (model.tar.gz or extracted dir) on `data_dir`'s list.

    Returns n, accuracy, threshold, coverage, n_confident, selective_accuracy (None if nothing is
    confident), ece (15 bins), nll, confusion {"labels", "matrix" rows=true}, model_version, and
    `plots` (paths) when plots_dir is given.
    """
    lst_path = resolve_list_path(Path(data_dir), lst)
    entries = read_list_file(lst_path)
    root = image_root_for(Path(data_dir), lst_path)
    paths = []
    for entry in entries:
        path = root / entry.relative_path
        if not path.is_file():
            raise DatasetError(f"{lst_path}:{entry.line_number}: image {entry.relative_path!r} not found in {root}")
        paths.append(path)
    labels = np.array([e.label for e in entries], dtype=np.int64)
    model = model_fn(model_path)
    if log:
        log(f"evaluating {model.model_version} on {len(paths)} images from {lst_path}")
    probabilities = predict_files(model, paths, batch_size)
    summary = classification_summary(probabilities, labels, model.class_names, threshold)
    summary["model_version"] = model.model_version
    summary["data"] = str(lst_path)
    if plots_dir is not None:
        from training.plots import write_evaluation_plots

        summary["plots"] = write_evaluation_plots(probabilities, labels, model.class_names, threshold, plots_dir)
    return summary


def format_summary(summary: dict) -> str:
    """Human-readable multi-line summary."""
    def pct(value):
        return "n/a" if value is None else f"{value:.4f}"

    lines = [f"model {summary['model_version']} on {summary['n']} images ({summary['data']})",
             f"accuracy            {pct(summary['accuracy'])}",
             f"coverage @ {summary['threshold']:<8g} {pct(summary['coverage'])} ({summary['n_confident']} images)",
             f"selective accuracy  {pct(summary['selective_accuracy'])}",
             f"ECE (15 bins)       {pct(summary['ece'])}",
             "confusion (rows = true): " + ", ".join(
                 f"{label}: {row}" for label, row in zip(summary["confusion"]["labels"], summary["confusion"]["matrix"]))]
    for name, path in summary.get("plots", {}).items():
        lines.append(f"{name}: {path}")
    return "\n".join(lines)
