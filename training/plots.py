"""Evaluation figures (PNG, matplotlib's Agg canvas; no display or global backend needed).

Reusable for reports: each function takes plain arrays and a path and returns the path written.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from training.metrics import ECE_BINS, reliability_bins


def _figure(width: float = 5.0, height: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: Path | str,
                          title: str = "Confusion matrix") -> Path:
    """Counts with rows = true class, columns = predicted class."""
    matrix = np.asarray(matrix)
    figure = _figure(4.5, 4.0)
    ax = figure.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=ax)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    peak = matrix.max() if matrix.size else 0
    for (row, col), count in np.ndenumerate(matrix):
        ax.text(col, row, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
    return _save(figure, path)


def plot_reliability_diagram(confidences, correct, path: Path | str, n_bins: int = ECE_BINS,
                             title: str = "Reliability diagram") -> Path:
    """Accuracy vs mean confidence per equal-width bin; the diagonal is perfect calibration."""
    bins = reliability_bins(confidences, correct, n_bins)
    figure = _figure()
    ax = figure.add_subplot()
    width = 1.0 / n_bins
    centres = [b["lower"] + width / 2 for b in bins]
    ax.bar(centres, [b["accuracy"] or 0.0 for b in bins], width=width * 0.95, color="tab:blue",
           edgecolor="black", label="accuracy")
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    used = [b for b in bins if b["count"]]
    ax.plot([b["confidence"] for b in used], [b["accuracy"] for b in used], "o", color="tab:orange",
            label="bin (mean confidence, accuracy)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(loc="upper left")
    return _save(figure, path)


def plot_confidence_histogram(confidences, path: Path | str, threshold: float | None = None,
                              correct=None, n_bins: int = 20, title: str = "Top-class confidence") -> Path:
    """Histogram of top confidences (split by correct/wrong if given), threshold marked."""
    confidences = np.asarray(confidences, dtype=np.float64)
    figure = _figure()
    ax = figure.add_subplot()
    edges = np.linspace(0.5 if confidences.size and confidences.min() >= 0.5 else 0.0, 1.0, n_bins + 1)
    if correct is not None:
        correct = np.asarray(correct, dtype=bool)
        ax.hist([confidences[correct], confidences[~correct]], bins=edges, stacked=True,
                color=["tab:green", "tab:red"], label=["correct", "wrong"])
    else:
        ax.hist(confidences, bins=edges, color="tab:blue", label="images")
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:g}")
    ax.set_xlabel("top-class confidence")
    ax.set_ylabel("images")
    ax.set_title(title)
    ax.legend(loc="upper left")
    return _save(figure, path)


def write_evaluation_plots(probabilities, labels, class_names: Sequence[str], threshold: float,
                           out_dir: Path | str) -> dict[str, str]:
    """confusion_matrix.png, reliability_diagram.png, confidence_histogram.png in out_dir."""
    from training.metrics import confusion_matrix

    probs = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    predicted = probs.argmax(1)
    confidences = probs.max(1)
    correct = predicted == labels
    out_dir = Path(out_dir)
    confusion = confusion_matrix(labels, predicted, class_names)
    return {
        "confusion_matrix": str(plot_confusion_matrix(confusion["matrix"], class_names, out_dir / "confusion_matrix.png")),
        "reliability_diagram": str(plot_reliability_diagram(confidences, correct, out_dir / "reliability_diagram.png")),
        "confidence_histogram": str(plot_confidence_histogram(confidences, out_dir / "confidence_histogram.png",
                                                              threshold, correct)),
    }
