from __future__ import annotations

import pytest

from scones_contracts.env import ConfigurationError, Environment


def test_a_required_variable_that_is_missing_or_blank_is_named():
    for env in ({}, {"ENDPOINT_NAME": "  "}):
        with pytest.raises(ConfigurationError, match="environment variable ENDPOINT_NAME is not set"):
            Environment(env).text("ENDPOINT_NAME")


def test_optional_variables_take_their_default_only_when_unset():
    env = Environment({"WINDOW_HOURS": "6"})
    assert env.number("WINDOW_HOURS", 24.0, positive=True) == 6.0
    assert env.number("OTHER", 24.0, positive=True) == 24.0
    assert env.integer("MIN_RECORDS", 30) == 30


@pytest.mark.parametrize("raw, message", [("ten", "must be an integer"), ("0", "must be between 1 and 10"),
                                          ("11", "must be between 1 and 10")])
def test_integers(raw, message):
    with pytest.raises(ConfigurationError, match=f"N {message}"):
        Environment({"N": raw}).integer("N", minimum=1, maximum=10)
    assert Environment({"N": "10_0"}).integer("N") == 100


@pytest.mark.parametrize("raw", ["0", "-1", "nan", "inf", "x"])
def test_positive_numbers(raw):
    with pytest.raises(ConfigurationError, match="T "):
        Environment({"T": raw}).number("T", positive=True)


def test_threshold_uses_the_one_validation():
    assert Environment({"THRESHOLD": "0.8"}).threshold() == 0.8
    for raw in ("0.3", "1", "x"):
        with pytest.raises(ConfigurationError, match=r"THRESHOLD must .*0.5 <= threshold < 1"):
            Environment({"THRESHOLD": raw}).threshold()
    with pytest.raises(ConfigurationError, match="THRESHOLD is not set"):
        Environment({}).threshold()


def test_names_and_class_names():
    env = Environment({"FORMATS": "png, ,jpeg", "CLASS_NAMES": "bicycle,motorcycle", "BAD": "bicycle"})
    assert env.names("FORMATS") == ("png", "jpeg")
    assert env.class_names() == ("bicycle", "motorcycle")
    with pytest.raises(ConfigurationError, match="BAD must be at least two distinct"):
        env.class_names("BAD")
    with pytest.raises(ConfigurationError, match="EMPTY must list at least one item"):
        Environment({"EMPTY": ", ,"}).names("EMPTY")
