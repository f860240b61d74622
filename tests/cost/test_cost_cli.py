"""`scones cost`: arguments, errors named clearly, the JSON document of the real deployment."""
from __future__ import annotations

import json

import pytest

from scones.cli import main


@pytest.mark.parametrize("value", ["0", "-10", "abc", "inf", "nan", ""])
def test_a_bad_images_per_day_is_refused_naming_the_flag(value, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["cost", "--images-per-day", value])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "--images-per-day" in error and "positive number of images a day" in error


def test_an_unknown_region_is_refused_naming_the_known_ones(capsys):
    assert main(["cost", "--region", "mars-north-1"]) == 2
    error = capsys.readouterr().err
    assert "unknown region 'mars-north-1'" in error
    for region in ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"):
        assert region in error


def test_json_document_for_the_configured_deployment(capsys):
    assert main(["cost", "--images-per-day", "1e3", "--region", "eu-central-1", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["region"] == "eu-central-1" and document["images_per_day"] == 1000
    assert document["prices"]["as_of"] and document["measurement"]["measured_on"]
    assert document["monthly_total"] == pytest.approx(sum(i["monthly"] for i in document["items"]), abs=0.05)
    assert document["per_million_images"] == pytest.approx(
        document["monthly_total"] / document["images_per_month"] * 1e6, rel=1e-3)
    assert set(document["outcomes"]) == {"routed", "review", "quarantined", "failed"}
    assert {lever["change"].split(" ")[0] for lever in document["levers"]} == {"upload", "Serverless", "data", "uploads"}
    assert document["endpoint"]["instance_type"] == "ml.m5.large"
    assert document["inventory"]["endpoints"][0]["max_capacity"] == 4 and document["inventory"]["alarms"] > 0
    # at 1,000 images a day the always-on endpoint is most of the bill
    assert max(document["by_component"], key=document["by_component"].get) == "SageMaker endpoint"


def test_a_config_value_out_of_range_is_refused(capsys):
    assert main(["-c", "data_capture_sampling_percentage=150", "cost"]) == 2
    assert "data_capture_sampling_percentage" in capsys.readouterr().err


def test_config_overrides_reach_the_synthesized_templates(capsys):
    assert main(["-c", "endpoint_instance_type=ml.c5.large", "cost", "--images-per-day", "1000", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["endpoint"]["instance_type"] == "ml.c5.large"
    assert any(item["item"] == "ml.c5.large instance-hours" for item in document["items"])
