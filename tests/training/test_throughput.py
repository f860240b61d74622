"""The step-time measurement behind stacks/data/training_throughput.json runs the recipe's real step
at the default recipe's width and batch (what the runtime estimate scales from), or at the given ones."""
from __future__ import annotations

from training.throughput import measure_in_process
from training.trainer import TrainConfig


def test_a_measurement_records_the_size_it_ran_at():
    default = measure_in_process("fp32", threads=1, steps=1, warmup=1, repeats=1)
    assert (default["width"], default["batch_size"]) == (TrainConfig().width, TrainConfig().batch_size)
    small = measure_in_process("fp32", threads=1, steps=1, warmup=1, repeats=1, width=4, batch_size=8)
    assert (small["width"], small["batch_size"]) == (4, 8)
    assert small["cpu_ms"] > 0 and small["precision"] == "fp32"
