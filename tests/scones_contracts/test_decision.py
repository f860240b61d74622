from __future__ import annotations

import math

import pytest

from scones_contracts.classes import CLASS_NAMES, parse_class_names, validate_class_names
from scones_contracts.decision import DEFAULT_THRESHOLD, is_confident, validate_threshold


def test_the_default_threshold_is_valid_and_093():
    assert DEFAULT_THRESHOLD == 0.93
    assert validate_threshold(DEFAULT_THRESHOLD) == 0.93


@pytest.mark.parametrize("value, expected", [(0.5, 0.5), ("0.8", 0.8), (0.999, 0.999), (1 - 1e-12, 1 - 1e-12)])
def test_thresholds_in_range_are_accepted(value, expected):
    assert validate_threshold(value) == expected


@pytest.mark.parametrize("value", [0.4999, 1.0, 1.5, 0.0, -0.3, math.nan, math.inf, "high", None, True])
def test_thresholds_out_of_range_name_the_source_and_the_range(value):
    with pytest.raises(ValueError, match=r"--threshold .*0\.5 <= threshold < 1"):
        validate_threshold(value, "--threshold")


@pytest.mark.parametrize("top, threshold, confident", [(0.93, 0.93, True), (0.9299999, 0.93, False),
                                                       (1.0, 0.93, True), (0.5, 0.5, True)])
def test_equal_to_the_threshold_is_confident(top, threshold, confident):
    assert is_confident(top, threshold) is confident


def test_class_names():
    assert CLASS_NAMES == ("bicycle", "motorcycle")
    assert parse_class_names(" bicycle, motorcycle ") == CLASS_NAMES
    for bad in (["bicycle"], ["bicycle", "bicycle"], ["bicycle", ""]):
        with pytest.raises(ValueError, match="CLASS_NAMES must be at least two distinct"):
            validate_class_names(bad, "CLASS_NAMES")
