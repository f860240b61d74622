"""A real (tiny) training run: it learns, calibrates, reports progress, and is bit-for-bit repeatable."""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import replace

import torch

from tests.training.training_test_support import TINY_CONFIG
from scones_contracts.classes import CLASS_NAMES
from scones_contracts.training_recipe import work_of
from training.dataset import load_labeled_images
from training.pipeline import run_training
from training import trainer
from training.trainer import TrainConfig, learning_rate, train_classifier


def test_tiny_model_beats_chance_on_held_out_images(tiny_run):
    validation = tiny_run.metadata["validation"]
    assert validation["n"] == 200
    # chance is 0.5; 0.7 on 200 held-out images is far outside what guessing gives (p < 1e-8)
    assert validation["accuracy"] >= 0.7


def test_held_out_split_is_stratified_and_disjoint(tiny_run):
    result = tiny_run.result
    assert torch.bincount(result.val_labels, minlength=2).tolist() == [100, 100]
    data = tiny_run.metadata["training_data"]
    assert data["n_train"] == 800 and data["n_validation"] == 200


def test_temperature_scaling_does_not_hurt_nll(tiny_run):
    validation = tiny_run.metadata["validation"]
    assert tiny_run.metadata["temperature"] > 0
    assert validation["nll"] <= validation["uncalibrated"]["nll"] + 1e-9


def test_progress_lines_show_epoch_loss_accuracy_and_time(tiny_run):
    progress = [line for line in tiny_run.logs if line.startswith("epoch")]
    assert progress, tiny_run.logs
    assert all("loss" in line and "val_acc" in line and "elapsed" in line for line in progress)
    assert progress[-1].startswith(f"epoch   {TINY_CONFIG.epochs}/{TINY_CONFIG.epochs}")
    assert tiny_run.result.history[-1]["step"] == TINY_CONFIG.epochs * (800 // TINY_CONFIG.batch_size)
    # the step count the stack's runtime estimate uses (scones_contracts.training_recipe) is this one
    assert tiny_run.result.history[-1]["step"] == work_of({"epochs": TINY_CONFIG.epochs,
                                                           "batch-size": TINY_CONFIG.batch_size}, 1000)["steps"]


def test_same_seed_gives_identical_weights_and_artifact_bytes(tmp_path, make_subset):
    data_dir = make_subset(tmp_path / "data", 40)
    config = TrainConfig(width=4, epochs=2, batch_size=16, threads=1, seed=3)
    first = run_training(data_dir, config, tmp_path / "a", log=lambda _: None)
    second = run_training(data_dir, config, tmp_path / "b", log=lambda _: None)
    for name, tensor in first.result.classifier.network.state_dict().items():
        assert torch.equal(tensor, second.result.classifier.network.state_dict()[name]), name
    assert first.artifact_path.read_bytes() == second.artifact_path.read_bytes()
    other_seed = run_training(data_dir, replace(config, seed=4), tmp_path / "c", log=lambda _: None)
    assert hashlib.sha256(other_seed.artifact_path.read_bytes()).digest() != \
        hashlib.sha256(first.artifact_path.read_bytes()).digest()


def test_training_restores_torch_thread_settings(tmp_path, make_subset):
    data = load_labeled_images(make_subset(tmp_path / "data", 8))
    before = torch.get_num_threads()
    train_classifier(data, TrainConfig(width=4, steps=1, batch_size=8, threads=1), log=lambda _: None)
    assert torch.get_num_threads() == before
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.utils.deterministic.fill_uninitialized_memory  # PyTorch's default, put back


def test_skipping_the_nan_fill_of_new_tensors_changes_no_weight(tmp_path, make_subset, monkeypatch):
    """The trainer turns off deterministic mode's NaN fill of uninitialised tensors (for speed): a kernel
    that read memory it had not written would now give different weights, so compare against a run
    with the fill on."""
    data = load_labeled_images(make_subset(tmp_path / "data", 40))
    config = TrainConfig(width=4, epochs=2, batch_size=16, threads=1, seed=3, cutmix=1.0, ema_decay=0.9)
    without_fill = train_classifier(data, config, log=lambda _: None)
    plain = trainer.deterministic_torch

    @contextmanager
    def with_fill(threads, device="cpu"):
        with plain(threads, device):
            torch.utils.deterministic.fill_uninitialized_memory = True
            yield

    monkeypatch.setattr(trainer, "deterministic_torch", with_fill)
    with_nan_fill = train_classifier(data, config, log=lambda _: None)
    for name, tensor in without_fill.classifier.network.state_dict().items():
        assert torch.equal(tensor, with_nan_fill.classifier.network.state_dict()[name]), name
    assert torch.equal(without_fill.val_raw_logits, with_nan_fill.val_raw_logits)


def test_steps_override_epochs(tmp_path, make_subset):
    data = load_labeled_images(make_subset(tmp_path / "data", 16))
    result = train_classifier(data, TrainConfig(width=4, steps=3, epochs=50, batch_size=8, threads=1), log=lambda _: None)
    assert result.history[-1]["step"] == 3
    assert result.val_probabilities.shape == (len(result.val_labels), len(CLASS_NAMES))


def test_learning_rate_warms_up_then_decays_to_zero():
    rates = [learning_rate(step, 100, 0.2, 0.2) for step in range(100)]
    peak = rates.index(max(rates))
    assert abs(max(rates) - 0.2) < 1e-12 and peak == 19
    assert all(a <= b for a, b in zip(rates[:peak], rates[1:peak + 1]))
    assert all(a >= b for a, b in zip(rates[peak:], rates[peak + 1:]))
    assert rates[-1] < 0.2 / 50


def test_ensemble_artifact_round_trips(tmp_path, make_subset):
    from training.artifact import load_classifier

    data_dir = make_subset(tmp_path / "data", 20)
    config = TrainConfig(width=4, steps=2, batch_size=8, threads=1, members=2, cutmix=0.5)
    run = run_training(data_dir, config, tmp_path / "out", log=lambda _: None)
    assert run.metadata["architecture"]["members"] == 2
    loaded, metadata = load_classifier(run.artifact_path)
    x = torch.randn(4, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(loaded(x), run.result.classifier(x))
    assert len({m for m in (r["member"] for r in run.result.history)}) == 2
