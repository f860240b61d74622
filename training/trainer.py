"""The training loop: ResNet-9, SGD Nesterov, label smoothing, torch-op augmentation, bf16 autocast.

Determinism: every random draw (init, split, shuffling, augmentation) comes from the seed, the
thread count is fixed and deterministic algorithms are requested, so a seed + thread count gives
bit-identical weights. Progress lines (epoch, loss, validation accuracy, elapsed) go to `log`.
"""
from __future__ import annotations

import copy
import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from training.augment import augment_batch
from training.calibration import fit_temperature
from training.constants import CLASS_NAMES
from training.dataset import LabeledImages, stratified_split
from training.imaging import normalize
from training.model import CalibratedClassifier, ResNet9


@dataclass
class TrainConfig:
    """Hyperparameters; all of them are stored in the artifact's metadata."""
    width: int = 32
    epochs: int = 80
    steps: int | None = None  # if set, overrides epochs: total optimiser steps
    batch_size: int = 64
    lr: float = 0.2
    warmup_fraction: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.2
    crop_padding: int = 4
    cutout: int = 12
    ema_decay: float = 0.0  # 0 disables the exponential moving average of weights
    flip_tta: bool = True
    bf16: bool = True
    seed: int = 0
    val_fraction: float = 0.2
    threads: int = 2


@dataclass
class TrainingResult:
    classifier: CalibratedClassifier  # fp32, eval mode, temperature fitted
    config: TrainConfig
    val_indices: torch.Tensor
    val_labels: torch.Tensor
    val_probabilities: torch.Tensor  # calibrated, (n_val, n_classes)
    val_raw_logits: torch.Tensor
    train_seconds: float
    history: list[dict] = field(default_factory=list)


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    return max(1, n_train // batch_size)


def learning_rate(step: int, total: int, peak: float, warmup_fraction: float) -> float:
    """Linear warm-up to `peak`, then linear decay to 0 (the Myrtle one-cycle shape)."""
    warmup = max(1, int(total * warmup_fraction))
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * max(0.0, (total - step) / max(1, total - warmup))


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD Nesterov; weight decay on conv/linear weights only (not BatchNorm)."""
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)


class WeightAverage:
    """Exponential moving average of parameters and BatchNorm statistics."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        ema_state = self.model.state_dict()
        for name, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                ema_state[name].lerp_(value, 1.0 - self.decay)
            else:
                ema_state[name].copy_(value)


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, bf16: bool, batch_size: int = 200,
                   flip_tta: bool = False) -> torch.Tensor:
    """Raw logits for normalised images in eval mode (optionally flip-averaged)."""
    model.eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(batch).float()
            if flip_tta:
                logits = (logits + model(batch.flip(-1)).float()) / 2
        outputs.append(logits)
    return torch.cat(outputs) if outputs else torch.empty(0, len(CLASS_NAMES))


@contextmanager
def deterministic_torch(threads: int) -> Iterator[None]:
    """Fixed thread count + deterministic kernels (what bit-identical reruns need), restored afterwards."""
    threads_before = torch.get_num_threads()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(max(1, threads))
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(deterministic_before)


def train_classifier(data: LabeledImages, config: TrainConfig, log: Callable[[str], None] = print,
                     log_every: int = 0) -> TrainingResult:
    """Split off a stratified validation set, train on the rest, fit the temperature on validation.

    `log_every` is the number of epochs between progress lines (0: about ten lines per run).
    """
    with deterministic_torch(config.threads):
        return _train(data, config, log, log_every)


def _train(data: LabeledImages, config: TrainConfig, log: Callable[[str], None], log_every: int) -> TrainingResult:
    torch.manual_seed(config.seed)
    train_idx, val_idx = stratified_split(data.labels, config.val_fraction, config.seed)
    train_x = normalize(data.images[train_idx])
    train_y = data.labels[train_idx]
    val_x = normalize(data.images[val_idx])
    val_y = data.labels[val_idx]

    network = ResNet9(num_classes=len(CLASS_NAMES), width=config.width).to(memory_format=torch.channels_last)
    optimizer = build_optimizer(network, config)
    average = WeightAverage(network, config.ema_decay) if config.ema_decay > 0 else None
    per_epoch = steps_per_epoch(len(train_y), config.batch_size)
    total_steps = config.steps if config.steps else config.epochs * per_epoch
    epochs = math.ceil(total_steps / per_epoch)
    log_every = log_every or max(1, epochs // 10)
    generator = torch.Generator().manual_seed(config.seed + 1)
    log(f"training ResNet-9 width {config.width}: {len(train_y)} train / {len(val_y)} validation images, "
        f"{total_steps} steps ({epochs} epochs of {per_epoch}), batch {config.batch_size}, {config.threads} threads, "
        f"{'bf16' if config.bf16 else 'fp32'}")

    history: list[dict] = []
    step = 0
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        network.train()
        order = torch.randperm(len(train_y), generator=generator)
        epoch_loss, epoch_batches = 0.0, 0
        for b in range(per_epoch):
            if step >= total_steps:
                break
            batch_idx = order[b * config.batch_size:(b + 1) * config.batch_size]
            inputs = augment_batch(train_x[batch_idx], generator, config.crop_padding, config.cutout)
            inputs = inputs.contiguous(memory_format=torch.channels_last)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, total_steps, config.lr, config.warmup_fraction)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
                logits = network(inputs)
            loss = F.cross_entropy(logits.float(), train_y[batch_idx], label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if average is not None:
                average.update(network)
            epoch_loss += loss.item()
            epoch_batches += 1
            step += 1
        if epoch % log_every == 0 or epoch == epochs:
            evaluated = average.model if average is not None else network
            val_pred = predict_logits(evaluated, val_x, config.bf16).argmax(1)
            val_accuracy = float((val_pred == val_y).float().mean()) if len(val_y) else float("nan")
            record = {"epoch": epoch, "step": step, "loss": round(epoch_loss / max(1, epoch_batches), 4),
                      "val_accuracy": round(val_accuracy, 4), "elapsed_s": round(time.perf_counter() - started, 1)}
            history.append(record)
            log(f"epoch {epoch:>3}/{epochs}  step {step:>5}/{total_steps}  loss {record['loss']:.4f}  "
                f"val_acc {val_accuracy:.3f}  elapsed {record['elapsed_s']:.1f}s")
    train_seconds = time.perf_counter() - started

    final = (average.model if average is not None else network).float().eval()
    final = final.to(memory_format=torch.contiguous_format)
    classifier = CalibratedClassifier(final, temperature=1.0, flip_tta=config.flip_tta).eval()
    with torch.no_grad():
        val_raw = torch.cat([classifier.raw_logits(val_x[i:i + 100]) for i in range(0, len(val_x), 100)]) \
            if len(val_x) else torch.empty(0, len(CLASS_NAMES))
    classifier.temperature = fit_temperature(val_raw, val_y) if len(val_y) else 1.0
    val_probs = torch.softmax(val_raw.double() / classifier.temperature, dim=1).float()
    log(f"trained in {train_seconds:.1f}s; temperature {classifier.temperature:.4f}")
    return TrainingResult(classifier, config, val_idx, val_y, val_probs, val_raw, train_seconds, history)


def config_dict(config: TrainConfig) -> dict:
    return asdict(config)
