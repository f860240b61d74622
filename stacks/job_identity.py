"""The training job's identity: its deterministic name and the hyperparameters it is started with.

The name is a hash of everything that changes the trained model (code, data, hyperparameters,
image, instance type), so an identical config adopts the finished job and a changed one retrains.
"""
from __future__ import annotations

import hashlib
import json
import re

from .config import ConfigError, SconesConfig
from .framework_images import image_entry
from .sourcedir import TRAINING_ENTRY_POINT


def sagemaker_hyperparameters(config: SconesConfig) -> dict[str, str | int | float]:
    """The user hyperparameters as train.py's flags: `batch_size` and `batch-size` both mean --batch-size."""
    result: dict[str, str | int | float] = {}
    for key, value in sorted(config.training_hyperparameters.items()):
        flag = key.strip().lstrip("-").replace("_", "-")
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", flag):
            raise ConfigError(f"config key 'training_hyperparameters' = {{{key!r}: ...}} is invalid: allowed names are "
                              "train.py flags without the dashes, e.g. 'epochs', 'batch-size' or 'batch_size'")
        if flag.startswith("sagemaker-"):
            raise ConfigError(f"config key 'training_hyperparameters' = {{{key!r}: ...}} is invalid: "
                              "'sagemaker_*' names are reserved for the SageMaker training toolkit")
        if flag in result:
            raise ConfigError(f"config key 'training_hyperparameters' = {{{key!r}: ...}} is invalid: "
                              f"it names the flag --{flag} twice")
        result[flag] = value
    return result


def training_job_name(config: SconesConfig, code_hash: str, data_hash: str) -> str:
    """Deterministic job name: any change to code, data, hyperparameters, image or instance gives a new one."""
    training = image_entry(config, "training")
    identity = {
        "code": code_hash,
        "data": data_hash,
        "data_version": config.training_data_version,
        "hyperparameters": sagemaker_hyperparameters(config),
        "image": f"{training['repository']}:{training['tag']}",
        "instance_type": config.training_instance_type,
        "entry_point": TRAINING_ENTRY_POINT,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", config.training_data_version).strip("-")[:24].strip("-") or "data"
    return f"{config.project_name}-{slug}-{digest[:12]}"


def json_hyperparameter(value) -> str:
    """SageMaker hyperparameters are strings; like the SageMaker SDK we JSON-encode them (the toolkit decodes)."""
    return json.dumps(value)
