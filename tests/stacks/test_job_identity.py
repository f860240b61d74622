"""job_identity: the training job's deterministic name and its hyperparameters (train.py flags)."""
from __future__ import annotations

import pytest

from stacks import job_identity
from stacks.config import ConfigurationError, SconesConfig
from tests.stacks.model_support import built, config  # noqa: F401


def test_job_name_changes_with_hyperparameters_data_version_code_and_data(config, built):
    code, data = built.model.code_hash, built.model.data_hash
    name = job_identity.training_job_name(config, code, data)
    assert name == built.model.training_job_name, "deterministic: same inputs, same name"
    others = {
        job_identity.training_job_name(config.with_overrides(training_hyperparameters={"seed": 8}), code, data),
        job_identity.training_job_name(config.with_overrides(training_data_version="cifar100-v2"), code, data),
        job_identity.training_job_name(config, "0" * 64, data),
        job_identity.training_job_name(config, code, "1" * 64),
        job_identity.training_job_name(config.with_overrides(training_instance_type="ml.c5.2xlarge"), code, data),
        # the artifact records the threshold it was evaluated at (metadata.json, baseline.json)
        job_identity.training_job_name(config.with_overrides(confidence_threshold=0.8), code, data),
    }
    assert name not in others and len(others) == 6
    assert job_identity.training_job_name(config.with_overrides(training_data_version="cifar100-v2"), code, data) \
        .startswith(f"{config.project_name}-cifar100-v2-")
    # Raising the bar or the runtime limit is not retraining.
    assert job_identity.training_job_name(config.with_overrides(min_validation_accuracy=0.95,
                                                 training_max_runtime_minutes=90), code, data) == name


def test_hyperparameters_become_train_py_flags():
    config = SconesConfig.from_mapping(dict(training_hyperparameters={"batch_size": 64, "epochs": 40, "lr": 0.1}))
    assert job_identity.sagemaker_hyperparameters(config) == {"batch-size": 64, "confidence-threshold": 0.93,
                                                              "epochs": 40, "lr": 0.1}
    with pytest.raises(ConfigurationError, match="training_hyperparameters.*twice"):
        job_identity.sagemaker_hyperparameters(SconesConfig.from_mapping(dict(training_hyperparameters={"batch_size": 1, "batch-size": 2})))
    with pytest.raises(ConfigurationError, match="training_hyperparameters.*reserved"):
        job_identity.sagemaker_hyperparameters(SconesConfig.from_mapping(dict(training_hyperparameters={"sagemaker_program": "x.py"})))
