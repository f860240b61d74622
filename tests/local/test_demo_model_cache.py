"""The demo's cached model is reused only for the same data, code AND recipe: a changed default
recipe retrains instead of silently serving the old recipe's model."""
from __future__ import annotations

import shutil
from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from scones.local import demo_model
from training.artifact import ARTIFACT_NAME, load_metadata


@pytest.fixture
def cache(tmp_path, tiny_model_path) -> Path:
    shutil.copy(tiny_model_path, tmp_path / ARTIFACT_NAME)
    return tmp_path


@pytest.fixture
def trainings(monkeypatch, tmp_path) -> list:
    """Records every training ensure_model starts (none really runs: the decision is what is tested)."""
    calls = []

    def fake_run_training(data_dir, config, model_dir, **kwargs):
        calls.append(config)
        return SimpleNamespace(artifact_path=Path(model_dir) / "retrained.tar.gz")

    import training.pipeline
    monkeypatch.setattr(training.pipeline, "run_training", fake_run_training)
    return calls


def tiny_config(cache: Path):
    from training.trainer import TrainConfig
    return TrainConfig(**load_metadata(cache / ARTIFACT_NAME)["hyperparameters"])


def test_the_cached_model_of_the_same_data_code_and_recipe_is_reused(cache, trainings):
    lines = []
    path = demo_model.ensure_model(None, 0.93, artifacts_dir=cache, log=lines.append, config=tiny_config(cache))
    assert path == cache / ARTIFACT_NAME and trainings == []
    assert "recipe unchanged" in lines[0]


def test_a_changed_recipe_retrains_and_says_what_changed(cache, trainings):
    lines = []
    longer = replace(tiny_config(cache), steps=31)
    path = demo_model.ensure_model(None, 0.93, artifacts_dir=cache, log=lines.append, config=longer)
    assert trainings == [longer] and path.name == "retrained.tar.gz"
    assert "stale: training recipe changed (steps: 30 -> 31)" in lines[0]


def test_the_default_recipe_is_not_served_by_a_model_of_another_recipe(cache, trainings):
    from training.trainer import TrainConfig
    demo_model.ensure_model(None, 0.93, artifacts_dir=cache, log=lambda line: None)
    assert trainings == [TrainConfig()]


def test_changed_data_or_code_is_stale_whatever_the_recipe():
    metadata = {"fingerprint": {"sha256": "old"}, "hyperparameters": {"epochs": 1}}
    assert demo_model.cached_model_mismatch(metadata, "new", {"epochs": 1}) == "training data or code changed"
    assert demo_model.cached_model_mismatch(metadata, "old", {"epochs": 1}) is None
    assert "epochs: 1 -> 2" in demo_model.cached_model_mismatch(metadata, "old", {"epochs": 2})
    assert "recipe changed" in demo_model.cached_model_mismatch({"fingerprint": {"sha256": "old"}}, "old", {"epochs": 1})


def test_the_recorded_hyperparameters_are_the_whole_config(tiny_model_path):
    """The cache compares asdict(TrainConfig): the artifact must record every field of it."""
    from training.trainer import TrainConfig
    assert set(load_metadata(tiny_model_path)["hyperparameters"]) == set(asdict(TrainConfig()))


def test_bench_model_with_its_default_flags_trains_the_demos_recipe(monkeypatch):
    """`make bench` keeps bench-model's model in artifacts/ for bench-workflow: that is only the
    demo's cached model if bench-model's recipe with its default flags is the demo's, TrainConfig()
    (on a machine with the CPUs for its threads: the flag's default is capped by the CPU count)."""
    import os

    from scones.cli import build_parser
    from training.cli import bench_config
    from training.trainer import TrainConfig

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert bench_config(build_parser().parse_args(["bench-model", "--out", "artifacts"])) == TrainConfig()
    assert bench_config(build_parser().parse_args(["bench-model", "--epochs", "3"])).epochs == 3


def test_a_model_bench_model_kept_is_reused_by_the_demo_cache(tmp_path, tiny_model_path, monkeypatch):
    """What bench-model writes with --out (run_training's artifact and metadata) passes the cache's
    check for the same recipe: bench-workflow then trains nothing."""
    import training.pipeline
    from training.bench import run_model_bench
    from training.constants import SAMPLE_DATA_DIR
    from training.trainer import TrainConfig

    recipe = TrainConfig(**load_metadata(tiny_model_path)["hyperparameters"])
    kept = tmp_path / "artifacts"
    results = run_model_bench(SAMPLE_DATA_DIR, recipe, out_dir=kept, latency_calls=5, throughput_batch=4,
                              log=lambda line: None)
    assert results["artifact"] == str(kept / ARTIFACT_NAME)

    trained_again = []
    monkeypatch.setattr(training.pipeline, "run_training", lambda *args, **kwargs: trained_again.append(args))
    lines = []
    path = demo_model.ensure_model(None, 0.93, artifacts_dir=kept, log=lines.append, config=recipe)
    assert path == kept / ARTIFACT_NAME and trained_again == []
    assert "reusing cached model" in lines[0]
