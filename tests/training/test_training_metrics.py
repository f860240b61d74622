"""Metric helpers, temperature fitting and augmentation ops on hand-checkable inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from training.augment import augment_batch, cutmix, cutout, random_crop, random_flip
from training.calibration import fit_temperature, nll_at_temperature
from training.metrics import (
    classification_summary,
    confusion_matrix,
    expected_calibration_error,
    reliability_bins,
    selective_metrics,
)

PROBS = np.array([[0.95, 0.05], [0.40, 0.60], [0.97, 0.03], [0.10, 0.90], [0.55, 0.45]])
LABELS = np.array([0, 1, 1, 1, 1])  # correct, correct, wrong, correct, wrong


def test_selective_metrics_count_only_confident_predictions():
    result = selective_metrics(PROBS, LABELS, 0.93)
    assert result["coverage"] == pytest.approx(2 / 5) and result["n_confident"] == 2
    assert result["selective_accuracy"] == pytest.approx(0.5)  # 0.95 right, 0.97 wrong
    assert selective_metrics(PROBS, LABELS, 0.99)["selective_accuracy"] is None


def test_ece_matches_hand_computation():
    # 15 bins of width 1/15: 0.95, 0.97 -> bin 14; 0.90 -> bin 13; 0.60 -> bin 8; 0.55 -> bin 8
    expected = (2 / 5) * abs(0.5 - 0.96) + (1 / 5) * abs(1.0 - 0.90) + (2 / 5) * abs(0.5 - 0.575)
    assert expected_calibration_error(PROBS, LABELS) == pytest.approx(expected)
    perfect = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(perfect, [0, 1]) == pytest.approx(0.0)


def test_reliability_bins_cover_all_samples():
    bins = reliability_bins(PROBS.max(1), PROBS.argmax(1) == LABELS)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 5
    assert bins[0]["lower"] == 0.0 and bins[-1]["upper"] == 1.0


def test_confusion_rows_are_true_labels():
    confusion = confusion_matrix([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], ["bicycle", "motorcycle"])
    assert confusion == {"labels": ["bicycle", "motorcycle"], "matrix": [[1, 1], [1, 2]]}


def test_summary_has_the_reported_fields():
    summary = classification_summary(PROBS, LABELS, ["bicycle", "motorcycle"], 0.93)
    assert summary["n"] == 5 and summary["accuracy"] == pytest.approx(0.6)
    assert {"coverage", "selective_accuracy", "ece", "nll", "confusion", "threshold"} <= set(summary)


def test_temperature_fit_recovers_the_generating_temperature():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(8000, 2, generator=generator, dtype=torch.float64) * 3
    true_temperature = 0.5
    labels = torch.multinomial(torch.softmax(logits / true_temperature, 1), 1, generator=generator).flatten()
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.08)
    assert nll_at_temperature(logits, labels, fitted) <= nll_at_temperature(logits, labels, 1.0)


def test_augmentations_keep_shape_and_are_seeded():
    images = torch.randn(6, 3, 32, 32)
    a = augment_batch(images, torch.Generator().manual_seed(1))
    b = augment_batch(images, torch.Generator().manual_seed(1))
    assert a.shape == images.shape and torch.equal(a, b)
    assert not torch.equal(a, augment_batch(images, torch.Generator().manual_seed(2)))
    assert torch.equal(random_crop(images, 0, torch.Generator()), images)


def test_crop_is_a_shifted_window_of_the_reflect_padded_image():
    image = torch.arange(3 * 8 * 8, dtype=torch.float32).view(1, 3, 8, 8)
    cropped = random_crop(image, 2, torch.Generator().manual_seed(5))
    padded = torch.nn.functional.pad(image, (2, 2, 2, 2), mode="reflect")
    windows = [padded[..., dy:dy + 8, dx:dx + 8] for dy in range(5) for dx in range(5)]
    assert any(torch.equal(cropped, w) for w in windows)


def test_flip_and_cutout():
    images = torch.randn(64, 3, 32, 32)
    flipped = random_flip(images, torch.Generator().manual_seed(0))
    same = [torch.equal(f, i) for f, i in zip(flipped, images)]
    mirrored = [torch.equal(f, i.flip(-1)) for f, i in zip(flipped, images)]
    assert all(s or m for s, m in zip(same, mirrored)) and 10 < sum(mirrored) < 54
    ones = torch.ones(64, 3, 32, 32)
    cut = cutout(ones, 12, torch.Generator().manual_seed(0))
    zeroed = (cut[:, 0] == 0).flatten(1).sum(1)
    assert int(zeroed.max()) <= 144 and int(zeroed.min()) >= 36  # square clipped at most to a quarter
    assert torch.equal(cut[:, 0] == 0, cut[:, 2] == 0)


def test_cutmix_pastes_one_box_from_partners_and_reports_the_label_weight():
    images = torch.arange(8, dtype=torch.float32).view(8, 1, 1, 1).expand(8, 3, 32, 32).contiguous()
    assert cutmix(images, torch.Generator().manual_seed(0), 0.0)[1] is None
    mixed, partner, weight = cutmix(images, torch.Generator().manual_seed(0), 1.0)
    assert partner is not None and sorted(partner.tolist()) == list(range(8))
    for i in range(8):
        own = (mixed[i] == i).float().mean().item()
        if partner[i] != i:
            assert own == pytest.approx(weight)
            assert ((mixed[i] == partner[i]).float().mean().item()) == pytest.approx(1 - weight)
