"""Classification metrics on predicted probabilities (numpy only, reusable for reports and demos).

Conventions: `probabilities` is (N, C) calibrated class probabilities, `labels` is (N,) true class
indices. "Confidence" is the top probability; "coverage" is the share of predictions confident
enough (>= threshold) to be acted on automatically, and "selective accuracy" is the accuracy
among those.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ECE_BINS = 15


def _arrays(probabilities, labels) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probabilities must be (N, C), got shape {probs.shape}")
    return probs, np.asarray(labels, dtype=np.int64).reshape(-1)


def accuracy(probabilities, labels) -> float | None:
    probs, labels = _arrays(probabilities, labels)
    return float(np.mean(probs.argmax(1) == labels)) if len(labels) else None


def selective_metrics(probabilities, labels, threshold: float) -> dict:
    """coverage (share with confidence >= threshold) and selective_accuracy (None if none qualify)."""
    probs, labels = _arrays(probabilities, labels)
    confident = probs.max(1) >= threshold
    n_confident = int(confident.sum())
    return {
        "threshold": float(threshold),
        "coverage": float(confident.mean()) if len(labels) else None,
        "n_confident": n_confident,
        "selective_accuracy": float(np.mean(probs.argmax(1)[confident] == labels[confident])) if n_confident else None,
    }


def reliability_bins(confidences, correct, n_bins: int = ECE_BINS) -> list[dict]:
    """Equal-width confidence bins over [0, 1]: count, mean confidence and accuracy per bin."""
    confidences = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin i holds (edges[i], edges[i+1]]; confidence 0 falls into the first bin
    index = np.clip(np.searchsorted(edges, confidences, side="left") - 1, 0, n_bins - 1)
    bins = []
    for i in range(n_bins):
        members = index == i
        count = int(members.sum())
        bins.append({
            "lower": float(edges[i]), "upper": float(edges[i + 1]), "count": count,
            "confidence": float(confidences[members].mean()) if count else None,
            "accuracy": float(correct[members].mean()) if count else None,
        })
    return bins


def expected_calibration_error(probabilities, labels, n_bins: int = ECE_BINS) -> float | None:
    """ECE: sum over equal-width bins of |accuracy - mean confidence| weighted by bin share."""
    probs, labels = _arrays(probabilities, labels)
    if not len(labels):
        return None
    confidences = probs.max(1)
    correct = probs.argmax(1) == labels
    total = 0.0
    for b in reliability_bins(confidences, correct, n_bins):
        if b["count"]:
            total += b["count"] / len(labels) * abs(b["accuracy"] - b["confidence"])
    return float(total)


def confusion_matrix(true_labels, predicted_labels, class_names: Sequence[str]) -> dict:
    """{"labels": class_names, "matrix": counts} with rows = true class, columns = predicted."""
    n = len(class_names)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true_labels, dtype=np.int64), np.asarray(predicted_labels, dtype=np.int64)), 1)
    return {"labels": list(class_names), "matrix": matrix.tolist()}


def negative_log_likelihood(probabilities, labels) -> float | None:
    probs, labels = _arrays(probabilities, labels)
    if not len(labels):
        return None
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0))))


def classification_summary(probabilities, labels, class_names: Sequence[str], threshold: float) -> dict:
    """Everything evaluate/bench/metadata report, as one JSON-ready dict."""
    probs, labels = _arrays(probabilities, labels)
    summary = {"n": int(len(labels)), "accuracy": accuracy(probs, labels)}
    summary.update(selective_metrics(probs, labels, threshold))
    summary["ece"] = expected_calibration_error(probs, labels)
    summary["nll"] = negative_log_likelihood(probs, labels)
    summary["confusion"] = confusion_matrix(labels, probs.argmax(1) if len(labels) else [], class_names)
    return summary
