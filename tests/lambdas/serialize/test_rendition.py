"""The serialize core without AWS: settings, the event's key candidates, the payload rendition."""
from __future__ import annotations

import pytest

from lambdas.serialize import rendition
from lambdas.serialize.event import ImageEvent
from lambdas.serialize.rendition import render
from lambdas.serialize.settings import Settings
from scones_contracts.env import ConfigurationError
from scones_imaging.decode import ImageRejected
from tests.lambdas.lambda_helpers import WORKFLOW_ENVIRONMENT


def test_settings_from_a_mapping():
    settings = Settings.from_env({**WORKFLOW_ENVIRONMENT, "MAX_IMAGE_BYTES": "2_000", "PAYLOAD_MAX_SIDE": "32",
                                  "ALLOWED_FORMATS": " jpg , png,JPEG ", "QUARANTINE_PREFIX": "q/"})
    assert settings.max_image_bytes == 2000
    assert settings.allowed_formats == ("JPEG", "PNG")
    assert settings.payload_max_side == 32
    assert settings.quarantine_prefix == "q/"
    assert Settings.from_env(WORKFLOW_ENVIRONMENT) == Settings()


@pytest.mark.parametrize("name", ["MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "ALLOWED_FORMATS", "PAYLOAD_MAX_SIDE",
                                  "INCOMING_PREFIX", "QUARANTINE_PREFIX"])
def test_every_variable_the_stack_sets_is_required(name):
    with pytest.raises(ConfigurationError, match=f"environment variable {name} is not set"):
        Settings.from_env({k: v for k, v in WORKFLOW_ENVIRONMENT.items() if k != name})


@pytest.mark.parametrize(
    ("key", "candidates"),
    [
        ("incoming/plain.png", ["incoming/plain.png"]),
        ("incoming/a+b%28c%29.png", ["incoming/a+b%28c%29.png", "incoming/a b(c).png"]),
        ("incoming/100%.png", ["incoming/100%.png"]),
    ],
)
def test_key_candidates(key, candidates):
    assert ImageEvent(bucket="b", key=key).key_candidates() == candidates


def test_conversion_failure_is_a_corrupt_image_outcome(base_png, monkeypatch):
    def explode(img, reduce_to=None):
        raise ValueError("conversion from mode XYZ to RGB not supported")

    monkeypatch.setattr(rendition, "upright_rgb", explode)
    with pytest.raises(ImageRejected) as excinfo:
        render(base_png, Settings())
    assert excinfo.value.reason_code == "corrupt_image"
    assert excinfo.value.reason == "PNG image could not be converted to RGB: conversion from mode XYZ to RGB not supported"
