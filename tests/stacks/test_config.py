"""config: defaults, the cdk.json block, -c overrides (CDK and the scones CLI), flat keys <-> groups."""
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
