"""The recipe comparison's protocol: folds never touch the demo's held-out images, the temperature is
cross-fitted, each fold has its own split and seed, and the summary's statistics are right."""
from __future__ import annotations

import json
import math
import statistics

import pytest
import torch

from scones.local.run_cli import build_demo_images
from training.constants import SAMPLE_DATA_DIR
from training.dataset import load_labeled_images
from training.recipe_bench import (RECIPES, cross_fitted_probabilities, development_folds, format_summary,
                                   held_out_indices, run_recipe_bench, summarize)
from training.trainer import TrainConfig


@pytest.fixture(scope="module")
def sample():
    return load_labeled_images(SAMPLE_DATA_DIR)


def test_folds_partition_the_development_images_stratified(sample):
    folds = development_folds(sample.labels, 5)
    together = torch.cat(folds).tolist()
    assert len(together) == len(set(together)) == 800  # disjoint, and every development image once
    for fold in folds:
        assert torch.bincount(sample.labels[fold], minlength=2).tolist() == [80, 80]
    assert [f.tolist() for f in development_folds(sample.labels, 5)] == [f.tolist() for f in folds]


def test_no_fold_holds_an_image_the_demo_uses(sample, tmp_path):
    """The demo uploads images the default training held out: the comparison never sees them."""
    held_out = set(held_out_indices(sample.labels).tolist())
    assert len(held_out) == 200
    demo = build_demo_images(tmp_path / "demo", per_class=100)
    demo_files = {name.split("/", 1)[1] for name in demo if "/" in name and not name.startswith("hostile/")}
    held_out_files = {sample.files[i].name for i in held_out}
    assert demo_files and demo_files <= held_out_files
    in_folds = {sample.files[i].name for i in torch.cat(development_folds(sample.labels, 5)).tolist()}
    assert not in_folds & demo_files


def test_the_temperature_of_each_half_is_fitted_on_the_other_half():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(40) % 2
    logits = torch.randn(40, 2, generator=generator)
    logits[torch.arange(40), labels] += 2.0
    probabilities, (t_first, t_second) = cross_fitted_probabilities(logits, labels, seed=3)
    from training.calibration import fit_temperature
    from training.dataset import stratified_split

    half_a, half_b = stratified_split(labels, 0.5, 3)
    assert t_first == pytest.approx(fit_temperature(logits[half_a], labels[half_a]))
    expected_b = torch.softmax(logits[half_b].double() / t_first, dim=1)
    assert torch.allclose(probabilities[half_b], expected_b)
    expected_a = torch.softmax(logits[half_a].double() / t_second, dim=1)
    assert torch.allclose(probabilities[half_a], expected_a)


def test_a_tiny_bench_writes_one_row_per_fold_and_resumes(sample, tmp_path, monkeypatch):
    monkeypatch.setitem(RECIPES, "tiny", {"width": 4, "steps": 3})
    out = tmp_path / "rows.jsonl"
    rows = run_recipe_bench(sample, ["tiny"], 3, out, only_folds=[0, 2], log=lambda _: None)
    assert [(r["fold"], r["seed"], r["folds"]) for r in rows] == [(0, 100, 3), (2, 102, 3)]
    assert all(r["n_train"] + r["n_validation"] == 800 and r["n_validation"] in (266, 267) for r in rows)
    assert all(0 <= r["accuracy"] <= 1 and r["steps"] == 3 and r["cpu_seconds"] > 0 for r in rows)
    assert len(out.read_text().splitlines()) == 2
    assert run_recipe_bench(sample, ["tiny"], 3, out, only_folds=[0, 2], log=lambda _: None) == []  # resumed: done


def _row(recipe, fold, accuracy, coverage=0.5, ece=0.05):
    return {"recipe": recipe, "fold": fold, "folds": 3, "accuracy": accuracy, "coverage": coverage, "ece": ece,
            "selective_accuracy": 0.99, "nll": 0.2, "cpu_seconds": 10.0 * (fold + 1), "steps": 100}


def test_summary_statistics_and_paired_differences_are_computed_by_hand():
    rows = [_row("r240", 0, 0.90), _row("r240", 1, 0.92), _row("r240", 2, 0.94),
            _row("new", 0, 0.91), _row("new", 1, 0.92), _row("new", 2, 0.96)]
    summary = summarize(rows, reference="r240")
    accuracy = summary["new"]["accuracy"]
    assert accuracy["mean"] == pytest.approx((0.91 + 0.92 + 0.96) / 3)
    assert accuracy["sd"] == pytest.approx(statistics.stdev([0.91, 0.92, 0.96]))
    assert (accuracy["min"], accuracy["max"]) == (0.91, 0.96)
    paired = summary["new"]["paired_vs_r240"]["accuracy"]
    assert paired["mean"] == pytest.approx((0.01 + 0.0 + 0.02) / 3)
    assert paired["sd"] == pytest.approx(statistics.stdev([0.01, 0.0, 0.02]))
    assert "paired_vs_r240" not in summary["r240"]
    table = format_summary(summary, "r240")
    assert "| new | 3 | 100 | 0.930 ± 0.026 [0.910, 0.960]" in table and "+0.0100" in table
    assert math.isclose(summary["r240"]["cpu_seconds"]["mean"], 20.0)
    json.dumps(summary)  # JSON-ready


def test_every_recipe_is_a_valid_train_config():
    for name, overrides in RECIPES.items():
        TrainConfig(**overrides)  # raises TypeError on a misspelt field


def test_the_recorded_report_states_the_command_date_load_and_paired_differences():
    from training.recipe_bench import format_report

    def run(recipe, fold, accuracy, coverage, ece):
        return {**_row(recipe, fold, accuracy, coverage, ece), "seed": 100 + fold, "threads": 1, "precision": "bf16",
                "wall_seconds": 99.0, "load_before": 3.5 + fold, "load_after": 12.25}
    rows = [run("r240", f, 0.90 + f / 100, 0.60, 0.05) for f in range(3)] + \
           [run("new", f, 0.91 + f / 100, 0.62, 0.04) for f in range(3)] + [run("excluded", 0, 0.5, 0.5, 0.5)]
    report = format_report(rows, ["r240", "new"], "r240", "scones bench-recipes --folds 3", "2026-11-30")
    assert report.startswith("# Training recipes compared by cross-validation (2026-11-30)")
    assert "`scones bench-recipes --folds 3`" in report and "load average 3.5 to 12.2" in report
    assert "| new | 3 | 100 |" in report and "| +0.0100 ± 0.0000 | +0.0200 ± 0.0000 | -0.0100 ± 0.0000 |" in report
    assert "| new | 2 | 102 | 100 | 0.9300 | 0.6200 | 0.0400 | 30 | 99 | 1 | 5.5->12.2 |" in report
    assert "excluded" not in report  # only the compared recipes
