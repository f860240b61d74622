"""config_groups: each group validates its own fields and names the flat key and the allowed values."""
from __future__ import annotations

import pytest

from scones_contracts.decision import THRESHOLD_RANGE
from stacks.config import ConfigurationError, SconesConfig


@pytest.mark.parametrize("key, value, fragment", [
    ("confidence_threshold", "1.7", THRESHOLD_RANGE),
    ("endpoint_initial_instance_count", "-1", "1..10"),
    ("endpoint_instance_type", "ml.x9.large", "'ml.<family>.<size>'"),
    ("endpoint_instance_type", "ml.g5.xlarge", "CPU family"),
    ("log_retention_days", "31", "one of"),
    ("incoming_prefix", "no-slash", "ending in '/'"),
    ("incoming_prefix", "datacapture/in/", "does not overlap"),
    ("quarantine_prefix", "q" * 256 + "/", "at most 256 characters"),
    ("autoscaling_max_capacity", "0", "autoscaling_min_capacity"),
    ("data_capture_sampling_percentage", "101", "0..100"),
    ("alarm_email", "not-an-email", "e-mail"),
    ("confidence_threshold", "high", "expected float"),
    # Claims must outlive EventBridge's redeliveries (the upload rule retries for up to 6 hours).
    ("delivery_claim_ttl_hours", "6", "maximum event age, 6 h"),
])
def test_bad_values_fail_naming_key_and_range(key, value, fragment):
    with pytest.raises(ConfigurationError) as err:
        SconesConfig.from_mapping({key: value})
    assert f"'{key}'" in str(err.value)
    assert fragment in str(err.value)


@pytest.mark.parametrize("key, value, allowed", [
    ("training_volume_size_gb", 0, "1..512"),
    ("deployment_baking_minutes", 61, "0..60"),
    ("rollback_5xx_errors_threshold", 0, "1..100000"),
    ("rollback_model_latency_ms", 60_001, "1..60000"),
])
def test_new_config_keys_are_validated_by_name(key, value, allowed):
    with pytest.raises(ConfigurationError) as err:
        SconesConfig.from_mapping({key: value})
    assert f"'{key}'" in str(err.value) and allowed in str(err.value)


def test_each_group_validates_itself_by_key():
    from stacks.config_groups import DriftSettings, EndpointSettings

    with pytest.raises(ConfigurationError, match="'drift_schedule_hours' = 30 .*1..24"):
        DriftSettings(schedule_hours=30)
    with pytest.raises(ConfigurationError, match="'endpoint_initial_instance_count' = 5 .*within the autoscaling bounds"):
        EndpointSettings(initial_instance_count=5, max_capacity=4)


def test_the_threshold_is_not_a_training_hyperparameter_too():
    with pytest.raises(ConfigurationError, match="'training_hyperparameters'.*'confidence_threshold'"):
        SconesConfig.from_mapping({"training_hyperparameters": {"confidence_threshold": 0.5}})
