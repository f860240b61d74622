"""The demo's model: the one given, the cached one while data, code and recipe are unchanged, or one
freshly trained on the shipped sample data (`scones demo`, `scones run`, `scones batch`, the cost
measurement)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DATA = ROOT / "data" / "sample" / "cifar100-bicycle-motorcycle"
DEFAULT_ARTIFACTS = ROOT / "artifacts"
# the default recipe's training time as measured (README, "make demo")
TRAINING_TIME_NOTE = "about 2.5 minutes on an idle 2-core machine"


def cached_model_mismatch(metadata: dict, fingerprint_sha256: str, hyperparameters: dict) -> str | None:
    """Why a cached artifact is not the model the demo would train now (None: it is). The cache key is
    the training fingerprint (data + training code) AND the recipe's hyperparameters, so a changed
    default recipe is never served silently by a model of the old one."""
    if metadata.get("fingerprint", {}).get("sha256") != fingerprint_sha256:
        return "training data or code changed"
    recorded = metadata.get("hyperparameters")
    if recorded != hyperparameters:
        changed = sorted(k for k in set(recorded or {}) | set(hyperparameters)
                         if (recorded or {}).get(k) != hyperparameters.get(k))
        return "training recipe changed (" + ", ".join(
            f"{k}: {(recorded or {}).get(k)!r} -> {hyperparameters.get(k)!r}" for k in changed) + ")"
    return None


def ensure_model(model: Path | None, threshold: float, artifacts_dir: Path = DEFAULT_ARTIFACTS, log=print,
                 config=None) -> Path:
    """The given model, or the cached one if data, code and recipe (`config`, default `TrainConfig()`)
    are unchanged, or one freshly trained and evaluated at `threshold` (a reused model keeps the
    threshold it was evaluated at in its metadata; the demo judges drift at the configured threshold
    explicitly)."""
    if model is not None:
        if not Path(model).is_file():
            raise SystemExit(f"scones: model artifact not found: {model}")
        return Path(model)
    from dataclasses import asdict

    from training.artifact import ARTIFACT_NAME, load_metadata
    from training.dataset import load_labeled_images, resolve_list_path
    from training.fingerprint import training_fingerprint
    from training.pipeline import run_training
    from training.trainer import TrainConfig

    config = config or TrainConfig()
    lst = resolve_list_path(SAMPLE_DATA, None)
    expected = training_fingerprint(lst, load_labeled_images(SAMPLE_DATA, lst).files)["sha256"]
    cached = artifacts_dir / ARTIFACT_NAME
    if cached.is_file():
        try:
            mismatch = cached_model_mismatch(load_metadata(cached), expected, asdict(config))
            if mismatch is None:
                log(f"reusing cached model {cached} (training data, code and recipe unchanged)")
                return cached
            log(f"cached model {cached} is stale: {mismatch}; retraining")
        except Exception as exc:  # a broken cache is retrained, not trusted
            log(f"cached model unusable ({exc}); retraining")
    log(f"training a model on {SAMPLE_DATA} ({TRAINING_TIME_NOTE})...")
    run = run_training(SAMPLE_DATA, config, artifacts_dir, log=log, threshold=threshold)
    return run.artifact_path
