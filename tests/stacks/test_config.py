"""The typed config: defaults, cdk.json block, -c overrides, and errors that name the key."""
import pytest
from aws_cdk import App

from stacks.config import ConfigError, SconesConfig


def test_defaults_are_the_documented_ones():
    config = SconesConfig()
    assert config.confidence_threshold == 0.93
    assert config.incoming_prefix == "incoming/"
    assert config.quarantine_prefix == "quarantine/"


def test_context_block_then_cli_override():
    app = App(context={"scones": {"confidence_threshold": 0.9, "endpoint_name": "from-json"},
                       "confidence_threshold": "0.95"})
    config = SconesConfig.from_context(app)
    assert config.confidence_threshold == 0.95  # -c key=value wins and is parsed from a string
    assert config.endpoint_name == "from-json"


def test_cdk_json_block_is_valid():
    import json
    from pathlib import Path

    block = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]["scones"]
    assert SconesConfig.from_mapping(block).confidence_threshold == pytest.approx(0.93)


@pytest.mark.parametrize("key, value, fragment", [
    ("confidence_threshold", "1.7", "0.5 <= value < 1.0"),
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
    with pytest.raises(ConfigError) as err:
        SconesConfig.from_mapping({key: value})
    assert f"'{key}'" in str(err.value)
    assert fragment in str(err.value)


def test_unknown_key_is_rejected():
    with pytest.raises(ConfigError, match="unknown config key"):
        SconesConfig.from_mapping({"confidence_treshold": 0.9})


def test_bad_value_fails_synth():
    from stacks.app_builder import build_app

    with pytest.raises(ConfigError, match="confidence_threshold"):
        build_app(App(context={"confidence_threshold": "1.7"}))
