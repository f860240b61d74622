"""The training loop: ResNet-9, SGD Nesterov, label smoothing, torch-op augmentation, precision by hardware.

Default recipe (TrainConfig; its size from `scones_contracts.training_recipe`): width 16, batch
64, 300 epochs over the 800 training images with linear warm-up/decay to peak lr 0.2, weight
decay 5e-4 on conv/linear weights, label smoothing 0.2, pad-crop + flip + 12 px cutout on every
batch and CutMix on half of them. Why this length: README "Training recipe" (cross-validated on
the development images, never on the held-out images the demo uses).

Precision (`training.precision`): "auto" uses bf16 autocast only where the hardware computes bf16
natively, else fp32 (emulated bf16 is several times slower than fp32).

Determinism: every random draw (init, split, shuffling, augmentation) comes from the seed, the
thread count is fixed and deterministic algorithms are requested, so a seed + thread count (+ the
same precision) gives bit-identical weights. Progress lines (epoch, loss, validation accuracy,
elapsed) go to `log`.
"""
from __future__ import annotations

import copy
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from scones_contracts.classes import CLASS_NAMES
from scones_contracts.training_recipe import (DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_MEMBERS, DEFAULT_PRECISION,
                                              DEFAULT_VAL_FRACTION, DEFAULT_WIDTH, steps_per_epoch, total_steps)
from training.augment import augment_batch, cutmix
from training.calibration import fit_temperature
from training.dataset import LabeledImages, stratified_split
from training.imaging import normalize
from training.model import CalibratedClassifier, Ensemble, ResNet9
from training.precision import Precision, choose_precision

__all__ = ["TrainConfig", "TrainStep", "TrainingResult", "build_optimizer", "deterministic_torch", "learning_rate",
           "predict_logits", "steps_per_epoch", "train_classifier", "train_network"]


@dataclass
class TrainConfig:
    """Hyperparameters; all of them are stored in the artifact's metadata."""
    width: int = DEFAULT_WIDTH
    epochs: int = DEFAULT_EPOCHS
    steps: int | None = None  # if set, overrides epochs: total optimiser steps
    batch_size: int = DEFAULT_BATCH_SIZE
    lr: float = 0.2
    warmup_fraction: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.2
    crop_padding: int = 4
    cutout: int = 12
    cutmix: float = 0.5  # probability of a CutMix batch (0 = off); lowered validation NLL in our runs
    ema_decay: float = 0.0  # 0 disables the exponential moving average of weights
    flip_tta: bool = True
    precision: str = DEFAULT_PRECISION  # "auto" (bf16 where native, else fp32), "bf16" or "fp32"
    seed: int = 0
    val_fraction: float = DEFAULT_VAL_FRACTION
    threads: int = 2
    members: int = DEFAULT_MEMBERS  # ensemble size: members differ only in seed; their logits are averaged


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
    precision: Precision | None = None  # what the run resolved config.precision to
    train_cpu_seconds: float = 0.0  # process CPU time (user + sys, all threads) of the training loop


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
def predict_logits(model: nn.Module, images: torch.Tensor, precision: Precision, batch_size: int = 200,
                   flip_tta: bool = False) -> torch.Tensor:
    """Raw logits (on the CPU) for normalised images on precision.device, in eval mode (optionally flip-averaged)."""
    model.eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].contiguous(memory_format=torch.channels_last)
        with precision.autocast():
            logits = model(batch).float()
            if flip_tta:
                logits = (logits + model(batch.flip(-1)).float()) / 2
        outputs.append(logits.cpu())
    return torch.cat(outputs) if outputs else torch.empty(0, len(CLASS_NAMES))


@contextmanager
def deterministic_torch(threads: int, device: str = "cpu") -> Iterator[None]:
    """Fixed thread count + deterministic kernels (what bit-identical reruns need), restored afterwards.

    On CUDA a kernel without a deterministic implementation (max-pool backward) only warns."""
    threads_before = torch.get_num_threads()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    warn_only_before = torch.is_deterministic_algorithms_warn_only_enabled()
    fill_before = torch.utils.deterministic.fill_uninitialized_memory
    torch.set_num_threads(max(1, threads))
    torch.use_deterministic_algorithms(True, warn_only=device == "cuda")
    # Deterministic mode also fills every new uninitialised tensor with NaN (a debugging aid that
    # costs ~7% of a training step here); every kernel the recipe runs writes its whole output, so
    # the weights do not change without it (test_skipping_the_nan_fill_of_new_tensors_changes_no_weight).
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(deterministic_before, warn_only=warn_only_before)
        torch.utils.deterministic.fill_uninitialized_memory = fill_before


def train_classifier(data: LabeledImages, config: TrainConfig, log: Callable[[str], None] = print,
                     log_every: int = 0, split: tuple[torch.Tensor, torch.Tensor] | None = None,
                     precision: Precision | None = None) -> TrainingResult:
    """Train on one part of `data`, fit the temperature and report on the other part.

    `split` is (train indices, validation indices); default: the stratified split of
    config.val_fraction drawn from config.seed. `precision` defaults to config.precision resolved on
    this machine. `log_every` is the number of epochs between progress lines (0: about ten lines).
    """
    precision = precision or choose_precision(config.precision)
    with deterministic_torch(config.threads, precision.device):
        return _train(data, config, log, log_every, split, precision)


def _train(data: LabeledImages, config: TrainConfig, log: Callable[[str], None], log_every: int,
           split: tuple[torch.Tensor, torch.Tensor] | None, precision: Precision) -> TrainingResult:
    train_idx, val_idx = split if split is not None else stratified_split(data.labels, config.val_fraction, config.seed)
    device = precision.device
    train_x, train_y = normalize(data.images[train_idx]).to(device), data.labels[train_idx].to(device)
    val_x, val_y = normalize(data.images[val_idx]), data.labels[val_idx]
    per_epoch = steps_per_epoch(len(train_y), config.batch_size)
    steps = total_steps(len(train_y), config.batch_size, config.epochs, config.steps)
    log(f"training {config.members} x ResNet-9 width {config.width}: {len(train_y)} train / {len(val_y)} validation "
        f"images, {steps} steps each ({math.ceil(steps / per_epoch)} epochs of {per_epoch}), "
        f"batch {config.batch_size}, {config.threads} threads, {precision.describe()}")

    history: list[dict] = []
    members = []
    started, cpu_started = time.perf_counter(), time.process_time()
    for member in range(config.members):
        # member k draws from its own seed; member 0 of a single model uses exactly `seed`
        member_seed = config.seed + 1000 * member
        members.append(train_network(train_x, train_y, val_x.to(device), val_y, config, member_seed, steps, history,
                                     log, log_every, started, member, precision))
    train_seconds = time.perf_counter() - started
    train_cpu_seconds = time.process_time() - cpu_started

    classifier = CalibratedClassifier(Ensemble(members), temperature=1.0, flip_tta=config.flip_tta).eval()
    with torch.no_grad():
        val_raw = torch.cat([classifier.raw_logits(val_x[i:i + 100]) for i in range(0, len(val_x), 100)]) \
            if len(val_x) else torch.empty(0, len(CLASS_NAMES))
    classifier.temperature = fit_temperature(val_raw, val_y) if len(val_y) else 1.0
    val_probs = torch.softmax(val_raw.double() / classifier.temperature, dim=1).float()
    log(f"trained in {train_seconds:.1f}s (process CPU time {train_cpu_seconds:.1f}s); "
        f"temperature {classifier.temperature:.4f}")
    return TrainingResult(classifier, config, val_idx, val_y, val_probs, val_raw, train_seconds, history, precision,
                          train_cpu_seconds)


class TrainStep:
    """One optimiser step of the recipe on a batch: augment, CutMix, forward under the precision's
    autocast, label-smoothed loss, backward, SGD (and the weight average). The training loop and the
    throughput benchmark (`training.throughput`) run exactly this."""

    def __init__(self, network: nn.Module, config: TrainConfig, precision: Precision, generator: torch.Generator):
        self.network, self.config, self.precision, self.generator = network, config, precision, generator
        self.optimizer = build_optimizer(network, config)
        self.average = WeightAverage(network, config.ema_decay) if config.ema_decay > 0 else None

    def __call__(self, images: torch.Tensor, targets: torch.Tensor, lr: float) -> torch.Tensor:
        """Train on normalised `images` (on the CPU: the augmentation draws from a CPU generator); returns the loss."""
        config = self.config
        inputs = augment_batch(images.cpu(), self.generator, config.crop_padding, config.cutout)
        inputs, partner, weight = cutmix(inputs, self.generator, config.cutmix)
        inputs = inputs.to(self.precision.device).contiguous(memory_format=torch.channels_last)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self.precision.autocast():
            logits = self.network(inputs).float()
        loss = F.cross_entropy(logits, targets, label_smoothing=config.label_smoothing)
        if partner is not None:
            loss = weight * loss + (1 - weight) * F.cross_entropy(
                logits, targets[partner.to(targets.device)], label_smoothing=config.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.average is not None:
            self.average.update(self.network)
        return loss.detach()

    @property
    def evaluated(self) -> nn.Module:
        return self.average.model if self.average is not None else self.network


def new_network(config: TrainConfig, seed: int, device: str = "cpu") -> ResNet9:
    """A freshly initialised ResNet-9 of the config's width, seeded, channels-last, on `device`."""
    torch.manual_seed(seed)
    network = ResNet9(num_classes=len(CLASS_NAMES), width=config.width)
    return network.to(device=device, memory_format=torch.channels_last)


def train_network(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor, val_y: torch.Tensor,
                  config: TrainConfig, seed: int, total: int, history: list[dict],
                  log: Callable[[str], None], log_every: int, started: float, member: int = 0,
                  precision: Precision | None = None) -> ResNet9:
    """Train one ResNet-9 (ensemble member `member`) for `total` steps; returns it fp32, on the CPU, eval mode."""
    precision = precision or choose_precision(config.precision)
    label = f"[member {member + 1}/{config.members}] " if config.members > 1 else ""
    network = new_network(config, seed, precision.device)
    generator = torch.Generator().manual_seed(seed + 1)
    step_fn = TrainStep(network, config, precision, generator)
    per_epoch = steps_per_epoch(len(train_y), config.batch_size)
    epochs = math.ceil(total / per_epoch)
    log_every = log_every or max(1, epochs // 10)
    step = 0
    for epoch in range(1, epochs + 1):
        network.train()
        order = torch.randperm(len(train_y), generator=generator)
        epoch_loss, epoch_batches = 0.0, 0
        for b in range(per_epoch):
            if step >= total:
                break
            batch_idx = order[b * config.batch_size:(b + 1) * config.batch_size]
            loss = step_fn(train_x[batch_idx.to(train_x.device)], train_y[batch_idx.to(train_y.device)],
                           learning_rate(step, total, config.lr, config.warmup_fraction))
            epoch_loss += loss.item()
            epoch_batches += 1
            step += 1
        if epoch % log_every == 0 or epoch == epochs:
            val_pred = predict_logits(step_fn.evaluated, val_x, precision).argmax(1)
            val_accuracy = float((val_pred == val_y).float().mean()) if len(val_y) else float("nan")
            record = {"member": member, "epoch": epoch, "step": step, "loss": round(epoch_loss / max(1, epoch_batches), 4),
                      "val_accuracy": round(val_accuracy, 4), "elapsed_s": round(time.perf_counter() - started, 1)}
            history.append(record)
            log(f"{label}epoch {epoch:>3}/{epochs}  step {step:>5}/{total}  loss {record['loss']:.4f}  "
                f"val_acc {val_accuracy:.3f}  elapsed {record['elapsed_s']:.1f}s")
    final = step_fn.evaluated.float().eval().cpu()
    return final.to(memory_format=torch.contiguous_format)
