"""Model benchmark: train on the repo sample data and measure quality, latency and throughput.

`run_model_bench()` returns one dict (and prints a summary): training time and the validation
quality (accuracy, coverage and selective accuracy at the 0.93 threshold, ECE) of a real
training run, then serving speed of the resulting artifact: latency of one image on one thread
through input_fn -> predict_fn -> output_fn (p50/p99), and model throughput at batch 64
(predict_fn on already-preprocessed tensors).

Training time on a shared machine: the wall time counts other processes' turns too, so the bench
also reports the process CPU time of the training loop (user + sys, all threads) and the load
average around it. With the cores to itself, a run keeps its `threads` threads busy (oneDNN's
OpenMP workers spin between kernels), so its idle wall time is about CPU time / threads; other
load only adds CPU time (cache misses, spinning while a sibling thread waits for a core), so
`idle_wall_estimate_s` = CPU time / threads is an upper estimate of the idle wall time.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from training.constants import SAMPLE_DATA_DIR
from training.dataset import image_root_for, read_list_file, resolve_list_path
from training.serve import input_fn, model_fn, output_fn, predict_fn
from training.trainer import TrainConfig


def _percentile_ms(samples: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(samples) * 1000.0, q)), 3)


def measure_latency(model, image_bytes: bytes, content_type: str = "image/png", calls: int = 200,
                    warmup: int = 10) -> dict:
    """Per-request latency of input_fn -> predict_fn -> output_fn for one image."""
    timings = []
    for i in range(warmup + calls):
        started = time.perf_counter()
        output_fn(predict_fn(input_fn(image_bytes, content_type), model), "application/json")
        if i >= warmup:
            timings.append(time.perf_counter() - started)
    return {"calls": calls, "p50_ms": _percentile_ms(timings, 50), "p99_ms": _percentile_ms(timings, 99),
            "mean_ms": round(1000.0 * float(np.mean(timings)), 3)}


def measure_throughput(model, batch: torch.Tensor, seconds: float = 3.0) -> dict:
    """Images/second of predict_fn on a preprocessed batch (repeated for at least `seconds`)."""
    predict_fn(batch, model)
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or calls < 3:
        predict_fn(batch, model)
        calls += 1
    elapsed = time.perf_counter() - started
    return {"batch_size": len(batch), "images_per_s": round(calls * len(batch) / elapsed, 1),
            "batch_ms": round(1000.0 * elapsed / calls, 2)}


def _sample_images(data_dir: Path, lst: Path | str | None, count: int) -> list[Path]:
    lst_path = resolve_list_path(data_dir, lst)
    root = image_root_for(Path(data_dir), lst_path)
    return [root / e.relative_path for e in read_list_file(lst_path)[:count]]


def run_model_bench(data_dir: Path | str = SAMPLE_DATA_DIR, config: TrainConfig | None = None,
                    lst: Path | str | None = None, out_dir: Path | str | None = None,
                    model_path: Path | str | None = None, latency_calls: int = 200, latency_threads: int = 1,
                    throughput_batch: int = 64, throughput_threads: int | None = None,
                    log: Callable[[str], None] = print) -> dict:
    """Train (unless `model_path` is given) and benchmark; returns a JSON-ready dict.

    With `model_path`, quality figures are the validation metrics stored in that artifact's
    metadata and no training happens. `out_dir` keeps the trained artifact (default: temp dir).
    """
    from training.artifact import load_metadata
    from training.pipeline import run_training

    data_dir = Path(data_dir)
    config = config or TrainConfig()
    threads_before = torch.get_num_threads()
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="scones-bench-") as tmp:
        if model_path is None:
            model_dir = Path(out_dir) if out_dir else Path(tmp)
            load_before = os.getloadavg()
            run = run_training(data_dir, config, model_dir, lst=lst, log=log)
            model_path = run.artifact_path
            results["train_seconds"] = round(run.result.train_seconds, 2)
            results["train_cpu_seconds"] = round(run.result.train_cpu_seconds, 2)
            results["idle_wall_estimate_s"] = round(run.result.train_cpu_seconds / max(1, config.threads), 1)
            results["load_average"] = {"before": [round(v, 2) for v in load_before],
                                       "after": [round(v, 2) for v in os.getloadavg()]}
            results["train_threads"] = config.threads
            results["precision"] = run.metadata["precision"]
            results["hyperparameters"] = run.metadata["hyperparameters"]
        metadata = load_metadata(model_path)
        validation = metadata["validation"]
        results.update({
            "model_version": metadata["model_version"],
            "artifact": str(model_path) if out_dir or "train_seconds" not in results else None,
            "n_validation": validation["n"],
            "val_accuracy": validation["accuracy"],
            "threshold": validation["threshold"],
            "coverage": validation["coverage"],
            "selective_accuracy": validation["selective_accuracy"],
            "ece": validation["ece"],
            "temperature": metadata["temperature"],
        })
        try:
            model = model_fn(model_path)
            samples = _sample_images(data_dir, lst, throughput_batch)
            torch.set_num_threads(latency_threads)
            results["latency"] = measure_latency(model, samples[0].read_bytes(), calls=latency_calls)
            results["latency"]["threads"] = latency_threads
            big_jpeg = io.BytesIO()
            from PIL import Image

            Image.open(samples[0]).convert("RGB").resize((1024, 768)).save(big_jpeg, format="JPEG", quality=90)
            results["latency_1024x768_jpeg"] = measure_latency(model, big_jpeg.getvalue(), "image/jpeg",
                                                               calls=max(20, latency_calls // 4))
            torch.set_num_threads(throughput_threads or threads_before)
            batch = torch.cat([input_fn(p.read_bytes(), "image/png") for p in samples])
            results["throughput"] = measure_throughput(model, batch)
            results["throughput"]["threads"] = torch.get_num_threads()
        finally:
            torch.set_num_threads(threads_before)
    log(format_bench(results))
    return results


def format_bench(results: dict) -> str:
    lines = ["model bench " + results["model_version"]]
    if "train_seconds" in results:
        load = results["load_average"]
        lines += [
            f"  training time        {results['train_seconds']:.1f} s wall on {results['train_threads']} threads "
            f"({results['precision']['autocast']}), load average {load['before'][0]:.1f} before, "
            f"{load['after'][0]:.1f} after",
            f"  training CPU time    {results['train_cpu_seconds']:.1f} s (user+sys, all threads): idle wall "
            f"<= ~{results['idle_wall_estimate_s']:.0f} s",
        ]
    lines += [
        f"  val accuracy         {results['val_accuracy']:.4f} (n={results['n_validation']})",
        f"  coverage @ {results['threshold']:<6g}     {results['coverage']:.4f}",
        f"  selective accuracy   {results['selective_accuracy']}",
        f"  ECE (15 bins)        {results['ece']:.4f}",
        f"  latency 32x32 PNG    p50 {results['latency']['p50_ms']} ms, p99 {results['latency']['p99_ms']} ms "
        f"({results['latency']['threads']} thread)",
        f"  latency 1024x768 JPG p50 {results['latency_1024x768_jpeg']['p50_ms']} ms, "
        f"p99 {results['latency_1024x768_jpeg']['p99_ms']} ms",
        f"  throughput batch {results['throughput']['batch_size']}  {results['throughput']['images_per_s']} images/s "
        f"({results['throughput']['threads']} threads)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(run_model_bench()))
