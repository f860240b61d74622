"""Compare training recipes by cross-validation on the development images, never on the held-out ones.

Protocol (`scones bench-recipes`; the README's recipe table comes from it):

* The images the demo and the default training hold out (the stratified `val_fraction` split of
  seed 0, `TrainConfig()`'s) are set aside and never trained on, calibrated on or scored here, so
  choosing a recipe cannot tune it to them.
* The remaining development images are cut into K stratified folds. Fold k trains on the other
  K-1 folds with its own seed (100 + k), so each recipe is scored on K different splits AND seeds.
  Every recipe sees the same folds and seeds, so differences between recipes are paired.
* The temperature is cross-fitted inside the validation fold (fit on one stratified half, applied
  to the other, and vice versa), so coverage at the threshold and ECE are measured on images the
  temperature never saw. Accuracy does not depend on the temperature.
* Each run records its wall time, its process CPU time (user + sys over all threads) and the load
  average, because the machine may be shared: CPU time is the steadier figure of the work done.

Results are appended to a JSONL file one run at a time (an interrupted bench resumes where it
stopped). Several processes may share one results file to use more cores: each claims a
(recipe, fold) before training it (an exclusive claim file naming its pid; a dead process's
claim is taken over). `summarize` turns the rows into mean, standard deviation and range per
recipe, plus the mean paired difference to a reference recipe.
"""
from __future__ import annotations

import json
import math
import os
import statistics
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Iterable

import torch

from scones_contracts.classes import CLASS_NAMES
from scones_contracts.decision import DEFAULT_THRESHOLD
from training.calibration import fit_temperature
from training.dataset import LabeledImages, stratified_split
from training.metrics import classification_summary
from training.trainer import TrainConfig, train_classifier

# The recipes of the recorded comparison (benchmarks/training-recipes-2026-11-30.md): overrides of
# TrainConfig's defaults, each naming its width and length so a new default changes no recipe.
# "r240" (width 32) was the default and is the reference; "w16-r300" is the default now.
RECIPES: dict[str, dict] = {
    "r240": {"width": 32, "epochs": 240},
    "r120": {"width": 32, "epochs": 120},
    "w24-r160": {"width": 24, "epochs": 160},
    # Recipes within the 150 s training budget on 2 cores (steps x the measured step time of their width):
    "r90": {"width": 32, "epochs": 90},
    "w16-r240": {"width": 16, "epochs": 240},
    "w16-r240-ls1": {"width": 16, "epochs": 240, "label_smoothing": 0.1},
    "w16-r240-b32": {"width": 16, "epochs": 240, "batch_size": 32, "lr": 0.1},
    "w16-r240-nocutmix": {"width": 16, "epochs": 240, "cutmix": 0.0},
    "w16-m2-r120": {"width": 16, "members": 2, "epochs": 120},
    "w16-r300": {"width": 16, "epochs": 300},
}
FOLD_SEED_BASE = 100
METRICS = ("accuracy", "coverage", "selective_accuracy", "ece", "nll")


def held_out_indices(labels: torch.Tensor, config: TrainConfig | None = None) -> torch.Tensor:
    """The images the default training (and so the demo) holds out: excluded from every fold."""
    config = config or TrainConfig()
    return stratified_split(labels, config.val_fraction, config.seed)[1]


def development_folds(labels: torch.Tensor, k: int, seed: int = FOLD_SEED_BASE) -> list[torch.Tensor]:
    """K stratified folds (indices into `labels`) of every image outside the held-out split."""
    if k < 2:
        raise ValueError(f"need at least 2 folds, got {k}")
    excluded = set(held_out_indices(labels).tolist())
    generator = torch.Generator().manual_seed(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for cls in range(len(CLASS_NAMES)):
        members = [i for i in torch.nonzero(labels == cls).flatten().tolist() if i not in excluded]
        order = torch.randperm(len(members), generator=generator).tolist()
        for position, j in enumerate(order):
            folds[(position + offset) % k].append(members[j])
        offset += len(members)  # keeps the folds' sizes within one of each other
    return [torch.tensor(sorted(f), dtype=torch.long) for f in folds]


def cross_fitted_probabilities(raw_logits: torch.Tensor, labels: torch.Tensor, seed: int) -> tuple[torch.Tensor, list[float]]:
    """Calibrated probabilities where each half's temperature was fitted on the other half."""
    half_a, half_b = stratified_split(labels, 0.5, seed)
    probabilities = torch.empty(raw_logits.shape, dtype=torch.float64)
    temperatures = []
    for fit, apply in ((half_a, half_b), (half_b, half_a)):
        temperature = fit_temperature(raw_logits[fit], labels[fit])
        probabilities[apply] = torch.softmax(raw_logits[apply].double() / temperature, dim=1)
        temperatures.append(temperature)
    return probabilities, temperatures


def run_fold(data: LabeledImages, folds: list[torch.Tensor], fold: int, recipe: str, config: TrainConfig,
             threshold: float = DEFAULT_THRESHOLD, log: Callable[[str], None] = lambda _: None) -> dict:
    """Train `config` on every fold but `fold`, score it on `fold`; one JSON-ready row."""
    val_idx = folds[fold]
    train_idx = torch.sort(torch.cat([f for i, f in enumerate(folds) if i != fold])).values
    seed = FOLD_SEED_BASE + fold
    config = replace(config, seed=seed)
    load_before = os.getloadavg()[0]
    wall_started, cpu_started = time.perf_counter(), time.process_time()
    result = train_classifier(data, config, log=log, split=(train_idx, val_idx))
    wall, cpu = time.perf_counter() - wall_started, time.process_time() - cpu_started
    probabilities, temperatures = cross_fitted_probabilities(result.val_raw_logits, result.val_labels, seed)
    summary = classification_summary(probabilities.numpy(), result.val_labels.numpy(), CLASS_NAMES, threshold)
    return {
        "recipe": recipe, "fold": fold, "folds": len(folds), "seed": seed, "n_train": len(train_idx),
        "n_validation": len(val_idx), "steps": result.history[-1]["step"] if result.history else 0,
        **{m: summary[m] for m in METRICS}, "threshold": threshold, "temperatures": temperatures,
        "precision": result.precision.name if result.precision else None, "threads": config.threads,
        "train_seconds": round(result.train_seconds, 2), "train_cpu_seconds": round(result.train_cpu_seconds, 2),
        "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
        "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
        "config": asdict(config),
    }


def completed(path: Path) -> set[tuple[str, int, int]]:
    """(recipe, fold, folds) rows already in a results file."""
    if not path.is_file():
        return set()
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["recipe"], r["fold"], r["folds"]) for r in rows}


def _claim(out: Path, recipe: str, fold: int, k: int) -> Path | None:
    """An exclusive claim on (recipe, fold) for this process; None if a live process holds it."""
    claims = out.parent / (out.name + ".claims")
    claims.mkdir(parents=True, exist_ok=True)
    path = claims / f"{recipe}.{fold}.of{k}"
    for _ in range(2):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                holder = int(path.read_text() or 0)
                os.kill(holder, 0)
                return None  # held by a live process
            except (ValueError, ProcessLookupError, FileNotFoundError):
                path.unlink(missing_ok=True)  # its process is gone: take it over
                continue
            except PermissionError:
                return None
        with os.fdopen(descriptor, "w") as stream:
            stream.write(str(os.getpid()))
        return path
    return None


def run_recipe_bench(data: LabeledImages, recipes: Iterable[str], k: int, out: Path, only_folds: Iterable[int] | None = None,
                     threads: int = 1, precision: str | None = None, log: Callable[[str], None] = print) -> list[dict]:
    """Every (recipe, fold) not yet in `out` nor claimed by another process, in the order of `recipes`
    (then folds), appended to `out` as it finishes; returns the rows this process added."""
    folds = development_folds(data.labels, k)
    rows = []
    for recipe in recipes:
        for fold in (sorted(only_folds) if only_folds is not None else range(k)):
            if (recipe, fold, k) in completed(out):
                continue
            claim = _claim(out, recipe, fold, k)
            if claim is None:
                continue
            try:
                if (recipe, fold, k) in completed(out):  # finished while we were claiming
                    continue
                config = replace(TrainConfig(threads=threads), **RECIPES[recipe])
                if precision:
                    config = replace(config, precision=precision)
                row = run_fold(data, folds, fold, recipe, config)
                with out.open("a") as stream:
                    stream.write(json.dumps(row) + "\n")
            finally:
                claim.unlink(missing_ok=True)
            log(f"{recipe:<14} fold {fold}/{k}: accuracy {row['accuracy']:.4f} coverage {row['coverage']:.4f} "
                f"ECE {row['ece']:.4f}  {row['steps']} steps, wall {row['wall_seconds']:.0f}s, "
                f"CPU {row['cpu_seconds']:.0f}s, load {row['load_before']:.1f}->{row['load_after']:.1f}")
            rows.append(row)
    return rows


def _stats(values: list[float]) -> dict:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return {"n": 0}
    return {"n": len(values), "mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def summarize(rows: list[dict], reference: str = "r240") -> dict:
    """Per recipe: mean/sd/min/max of each metric and of CPU time over its folds, and the paired
    difference to `reference` on the folds both ran (mean and sd of recipe minus reference)."""
    by_recipe: dict[str, dict[int, dict]] = {}
    for row in rows:
        by_recipe.setdefault(row["recipe"], {})[row["fold"]] = row
    summary = {}
    for recipe, folds in by_recipe.items():
        entry = {m: _stats([r[m] for r in folds.values()]) for m in METRICS}
        entry["cpu_seconds"] = _stats([r["cpu_seconds"] for r in folds.values()])
        entry["steps"] = sorted({r["steps"] for r in folds.values()})
        entry["folds"] = sorted(folds)
        if reference in by_recipe and recipe != reference:
            shared = sorted(set(folds) & set(by_recipe[reference]))
            entry["paired_vs_" + reference] = {
                m: _stats([folds[f][m] - by_recipe[reference][f][m] for f in shared]) for m in METRICS}
            entry["paired_vs_" + reference]["folds"] = shared
        summary[recipe] = entry
    return summary


def format_summary(summary: dict, reference: str = "r240") -> str:
    """A Markdown table: mean ± sd [min, max] per metric, CPU time, and paired accuracy difference."""
    def cell(s: dict, digits: int = 3) -> str:
        if not s.get("n"):
            return "-"
        return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f} [{s['min']:.{digits}f}, {s['max']:.{digits}f}]"

    def paired(s: dict, metric: str) -> str:
        d = s.get("paired_vs_" + reference, {}).get(metric, {})
        return f"{d['mean']:+.4f} ± {d['sd']:.4f}" if d.get("n") else "-"

    lines = ["| recipe | folds | steps | accuracy | coverage @ threshold | ECE | CPU s per run | "
             f"accuracy - {reference} (paired) | coverage - {reference} (paired) | ECE - {reference} (paired) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for recipe, s in summary.items():
        lines.append(f"| {recipe} | {len(s['folds'])} | {'/'.join(map(str, s['steps']))} | {cell(s['accuracy'])} | "
                     f"{cell(s['coverage'])} | {cell(s['ece'])} | {s['cpu_seconds'].get('mean', 0):.0f} | "
                     f"{paired(s, 'accuracy')} | {paired(s, 'coverage')} | {paired(s, 'ece')} |")
    return "\n".join(lines)


def format_report(rows: list[dict], recipes: list[str], reference: str, command: str, written: str) -> str:
    """The recorded comparison: what ran (command, date), how loaded the machine was, and the table.
    Wall times on a shared machine count other processes' turns: compare recipes by CPU time and steps."""
    chosen = [r for r in rows if r["recipe"] in recipes]
    loads = [r[k] for r in chosen for k in ("load_before", "load_after") if r.get(k) is not None]
    lines = [f"# Training recipes compared by cross-validation ({written})", "",
             f"Command: `{command}`", "",
             f"{len(chosen)} runs of {len({r['fold'] for r in chosen})} folds x {len(recipes)} recipes "
             f"({os.cpu_count()} cores; torch threads per run: "
             f"{', '.join(sorted({str(r['threads']) for r in chosen}))}; precision: "
             f"{', '.join(sorted({str(r['precision']) for r in chosen}))}).", "",
             "Load caveat: the machine was shared with other work (1-minute load average "
             + (f"{min(loads):.1f} to {max(loads):.1f}" if loads else "not recorded")
             + " around the runs), so wall times are mostly other processes' turns; compare recipes by "
             "steps and process CPU time (user + sys, all threads; contention inflates it too).", "",
             format_summary(summarize(chosen, reference), reference), "",
             "Per run:", "",
             "| recipe | fold | seed | steps | accuracy | coverage | ECE | CPU s | wall s | threads | load |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(chosen, key=lambda r: (recipes.index(r["recipe"]), r["fold"])):
        lines.append(f"| {r['recipe']} | {r['fold']} | {r['seed']} | {r['steps']} | {r['accuracy']:.4f} | "
                     f"{r['coverage']:.4f} | {r['ece']:.4f} | {r['cpu_seconds']:.0f} | {r['wall_seconds']:.0f} | "
                     f"{r['threads']} | {r['load_before']:.1f}->{r['load_after']:.1f} |")
    return "\n".join(lines) + "\n"
