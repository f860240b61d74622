"""Shared fixtures: one in-process synthesis of the whole app per test worker, plus AWS test env."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
# What the workflow stack sets for every function; a handler imported by a test runs under these.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "scones-test")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SconesUnlimited")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_DEPRECATED", "quiet")

ROOT = Path(__file__).resolve().parent.parent
_HASH = re.compile(r"[0-9a-f]{64}")
# The training job name ends in 12 hex of a hash of the training code and data (an asset too).
_JOB_HASH = re.compile(r"(?<=-)[0-9a-f]{12}(?=$|/|\")")


@pytest.fixture(scope="session")
def assembly(tmp_path_factory):
    """The synthesized app (all stacks, cdk-nag on): synthesized once per worker."""
    from scones.local.cloud_assembly import synthesize

    return synthesize(tmp_path_factory.mktemp("cdk.out"))


def set_fake_aws_env(monkeypatch, clear: tuple[str, ...] = ()) -> None:
    """Fake credentials and a fixed region; drop variables (endpoint overrides...) that could leak in."""
    for name in clear:
        monkeypatch.delenv(name, raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                        "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)


def mask_asset_hashes(value):
    """Replace asset hashes so a snapshot changes only when infrastructure changes."""
    if isinstance(value, dict):
        return {k: mask_asset_hashes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_asset_hashes(v) for v in value]
    if isinstance(value, str):
        return _JOB_HASH.sub("<code-hash>", _HASH.sub("<asset-hash>", value))
    return value


# A real training run on the repo sample, just small: 30 fp32 steps on one thread (~80% validation
# accuracy) take a few seconds; one thread is also fastest when other work shares the two cores.
TINY_STEPS = 30


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    from training.constants import SAMPLE_DATA_DIR
    from training.pipeline import run_training
    from training.trainer import TrainConfig

    config = TrainConfig(width=8, steps=TINY_STEPS, batch_size=64, threads=1, seed=0, precision="fp32")
    run = run_training(SAMPLE_DATA_DIR, config, tmp_path_factory.mktemp("tiny-model"), log=lambda line: None)
    return Path(run.artifact_path)
