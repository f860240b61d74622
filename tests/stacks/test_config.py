"""The typed config: defaults, cdk.json block, -c overrides, and errors that name the key."""
import pytest
from aws_cdk import App

from scones_contracts.decision import THRESHOLD_RANGE
from stacks.config import ConfigurationError, SconesConfig


def test_defaults_are_the_documented_ones():
    config = SconesConfig()
    assert config.decision.threshold == 0.93
    assert config.bucket.incoming_prefix == "incoming/"
    assert config.bucket.quarantine_prefix == "quarantine/"


def test_context_block_then_cli_override():
    app = App(context={"scones": {"confidence_threshold": 0.9, "endpoint_name": "from-json"},
                       "confidence_threshold": "0.95"})
    config = SconesConfig.from_context(app)
    assert config.decision.threshold == 0.95  # -c key=value wins and is parsed from a string
    assert config.endpoint.name == "from-json"


def test_cdk_json_block_is_valid():
    import json
    from pathlib import Path

    block = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]["scones"]
    assert SconesConfig.from_mapping(block).decision.threshold == pytest.approx(0.93)


@pytest.mark.parametrize("key, value, fragment", [
    ("confidence_threshold", "1.7", THRESHOLD_RANGE),
    ("endpoint_initial_instance_count", "-1", "1..10"),
    ("endpoint_instance_type", "ml.x9.large", "'ml.<family>.<size>'"),
    ("endpoint_instance_type", "ml.g5.xlarge", "CPU family"),
    ("log_retention_days", "31", "one of"),
    ("incoming_prefix", "no-slash", "ending in '/'"),
    ("incoming_prefix", "datacapture/in/", "does not overlap"),
    ("autoscaling_max_capacity", "0", "autoscaling_min_capacity"),
    ("data_capture_sampling_percentage", "101", "0..100"),
    ("alarm_email", "not-an-email", "e-mail"),
    ("confidence_threshold", "high", "expected float"),
])
def test_bad_values_fail_naming_key_and_range(key, value, fragment):
    with pytest.raises(ConfigurationError) as err:
        SconesConfig.from_mapping({key: value})
    assert f"'{key}'" in str(err.value)
    assert fragment in str(err.value)


def test_unknown_key_is_rejected():
    with pytest.raises(ConfigurationError, match="unknown config key"):
        SconesConfig.from_mapping({"confidence_treshold": 0.9})


def test_bad_value_fails_synth():
    from stacks.app_builder import build_app

    with pytest.raises(ConfigurationError, match="confidence_threshold"):
        build_app(App(context={"confidence_threshold": "1.7"}))


def test_flat_keys_map_to_grouped_fields_and_back():
    from stacks.config import config_keys

    config = SconesConfig.from_mapping({"endpoint_name": "ep-2", "drift_window_hours": "48",
                                        "training_hyperparameters": '{"epochs": 3}'})
    assert (config.endpoint.name, config.drift.window_hours, config.training.hyperparameters) == ("ep-2", 48, {"epochs": 3})
    assert SconesConfig.from_mapping(config.to_mapping()) == config
    assert set(config.to_mapping()) == set(config_keys())
    assert config.with_overrides(confidence_threshold="0.8").decision.threshold == 0.8
    assert config.with_overrides(confidence_threshold="0.8").endpoint.name == "ep-2"


def test_each_group_validates_itself_by_key():
    from stacks.config_groups import DriftSettings, EndpointSettings

    with pytest.raises(ConfigurationError, match="'drift_schedule_hours' = 30 .*1..24"):
        DriftSettings(schedule_hours=30)
    with pytest.raises(ConfigurationError, match="'endpoint_initial_instance_count' = 5 .*within the autoscaling bounds"):
        EndpointSettings(initial_instance_count=5, max_capacity=4)


def test_the_threshold_is_not_a_training_hyperparameter_too():
    with pytest.raises(ConfigurationError, match="'training_hyperparameters'.*'confidence_threshold'"):
        SconesConfig.from_mapping({"training_hyperparameters": {"confidence_threshold": 0.5}})


def test_load_config_reads_cdk_json_then_overrides(tmp_path):
    import json

    from stacks.config import load_config

    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": {"scones": {"endpoint_name": "from-json", "confidence_threshold": 0.9},
                                                "drift_window_hours": 12}}))
    config = load_config({"confidence_threshold": "0.95"}, cdk_json)
    assert (config.endpoint.name, config.drift.window_hours, config.decision.threshold) == ("from-json", 12, 0.95)


def test_scones_cli_rejects_a_bad_override_naming_the_key(capsys):
    from scones.cli import main

    assert main(["-c", "confidence_threshold=1.7", "evaluate", "--model", "m.tar.gz"]) == 2
    err = capsys.readouterr().err
    assert "'confidence_threshold'" in err and THRESHOLD_RANGE in err
    assert main(["-c", "no_such_key=1", "evaluate", "--model", "m.tar.gz"]) == 2
    assert "unknown config key" in capsys.readouterr().err
