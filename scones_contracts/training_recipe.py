"""The default training recipe's size and how many optimiser steps a run takes.

Shared by the trainer (`training.trainer.TrainConfig` takes its defaults from here) and by the
model stack, which estimates at synth time whether a training job fits its maximum runtime
(`stacks/training_runtime.py`). Only what sets the amount of work lives here; the optimiser's
settings (learning rate, smoothing, augmentation) stay with the trainer.

The default (width 16, 300 epochs) is the recipe that matched the former default (width 32, 240
epochs) on accuracy, coverage at 0.93 and ECE over 3 + 5 cross-validation folds of the development
images, in about a third of its compute: `make bench-recipes` (scones bench-recipes) compares recipes
over folds and seeds (benchmarks/training-recipes-2026-11-30.md; README "Training recipe").
"""
from __future__ import annotations

import math
from typing import Mapping

DEFAULT_WIDTH = 16  # ResNet-9 base width
DEFAULT_EPOCHS = 300
DEFAULT_BATCH_SIZE = 64
DEFAULT_MEMBERS = 1  # ensemble size
DEFAULT_VAL_FRACTION = 0.2  # stratified share of the data held out for calibration and validation

# How the training chooses its numeric precision: "auto" picks bf16 autocast only where the hardware
# computes bf16 natively (CPU: avx512_bf16 or AMX; CUDA: compute capability 8.0+), else fp32.
PRECISIONS = ("auto", "bf16", "fp32")
DEFAULT_PRECISION = "auto"


def validation_count(n_images: int, val_fraction: float = DEFAULT_VAL_FRACTION) -> int:
    """About how many images the stratified split holds out (the trainer rounds per class)."""
    return int(round(n_images * val_fraction))


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Full batches per pass over the training split (the last partial batch is dropped)."""
    return max(1, n_train // batch_size)


def total_steps(n_train: int, batch_size: int, epochs: int, steps: int | None = None) -> int:
    """Optimiser steps of one ensemble member: `steps` when given, else epochs x full batches."""
    return int(steps) if steps else epochs * steps_per_epoch(n_train, batch_size)


def flag(hyperparameters: Mapping[str, object], name: str, default):
    """A train.py flag's value from SageMaker-style hyperparameters (`batch-size` or `batch_size`)."""
    for key in (name, name.replace("-", "_")):
        if key in hyperparameters:
            return hyperparameters[key]
    return default


def work_of(hyperparameters: Mapping[str, object], n_images: int) -> dict:
    """The amount of work the hyperparameters ask for on `n_images` labelled images: optimiser steps
    per member, members, width, batch size, precision and threads (train.py's defaults where a flag
    is absent).
    Raises ValueError naming a flag whose value is not a number where one is needed."""
    def number(name: str, default, cast):
        value = flag(hyperparameters, name, default)
        try:
            result = cast(value)
        except (TypeError, ValueError):
            raise ValueError(f"training hyperparameter {name!r} = {value!r} is not a number") from None
        if isinstance(result, float) and not math.isfinite(result):
            raise ValueError(f"training hyperparameter {name!r} = {value!r} is not a finite number")
        return result

    val_fraction = number("val-fraction", DEFAULT_VAL_FRACTION, float)
    batch_size = number("batch-size", DEFAULT_BATCH_SIZE, int)
    epochs = number("epochs", DEFAULT_EPOCHS, int)
    steps = flag(hyperparameters, "steps", None)
    steps = number("steps", None, int) if steps not in (None, "", "null") else None
    threads = flag(hyperparameters, "threads", None)
    threads = number("threads", None, int) if threads not in (None, "", "null") else None
    n_train = n_images - validation_count(n_images, val_fraction)
    precision = str(flag(hyperparameters, "precision", DEFAULT_PRECISION))
    if precision not in PRECISIONS:
        raise ValueError(f"training hyperparameter 'precision' = {precision!r}: allowed {PRECISIONS}")
    return {
        "steps": total_steps(n_train, max(1, batch_size), epochs, steps),
        "members": number("members", DEFAULT_MEMBERS, int),
        "width": number("width", DEFAULT_WIDTH, int),
        "batch_size": batch_size,
        "n_train": n_train,
        "precision": precision,
        "threads": threads,  # None: train.py uses SM_NUM_CPUS
    }
