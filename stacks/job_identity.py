"""The training job's identity: its deterministic name and the hyperparameters it is started with.

The name is a hash of everything that changes the trained model (code, data, hyperparameters,
image, instance type), so an identical config adopts the finished job and a changed one retrains.
"""
from __future__ import annotations

import hashlib
import json
import re

from scones_contracts.model_artifact import TRAINING_ENTRY_POINT

from .config import SconesConfig
from .config_groups import CONFIG_FLAGS
from .framework_images import image_entry


def sagemaker_hyperparameters(config: SconesConfig) -> dict[str, str | int | float]:
    """train.py's flags: the configured `training_hyperparameters` plus those set from other config keys
    (`CONFIG_FLAGS`: the routing threshold, so metadata.json and baseline.json record the threshold the
    workflow routes at). A changed threshold is a new job: the artifact states what it was evaluated at."""
    context = config.to_mapping()
    flags = {**config.training.flags(), **{flag: context[key] for flag, key in CONFIG_FLAGS.items()}}
    return dict(sorted(flags.items()))


def training_job_name(config: SconesConfig, code_hash: str, data_hash: str) -> str:
    """Deterministic job name: any change to code, data, hyperparameters, image or instance gives a new one."""
    training = image_entry(config, "training")
    identity = {
        "code": code_hash,
        "data": data_hash,
        "data_version": config.training.data_version,
        "hyperparameters": sagemaker_hyperparameters(config),
        "image": f"{training['repository']}:{training['tag']}",
        "instance_type": config.training.instance_type,
        "entry_point": TRAINING_ENTRY_POINT,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", config.training.data_version).strip("-")[:24].strip("-") or "data"
    return f"{config.project_name}-{slug}-{digest[:12]}"


def json_hyperparameter(value) -> str:
    """SageMaker hyperparameters are strings; like the SageMaker SDK we JSON-encode them (the toolkit decodes)."""
    return json.dumps(value)
