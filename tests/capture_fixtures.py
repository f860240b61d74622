"""Data-capture fixtures shared by the drift and capture-report tests (each conftest imports them):
`lib` (tests/capture_support.py as a namespace), a baseline dict and its file."""
from __future__ import annotations

import json

import pytest

from tests import capture_support


@pytest.fixture(scope="session")
def lib():
    return capture_support.namespace()


@pytest.fixture
def baseline_dict(lib):
    return lib.make_baseline()


@pytest.fixture
def baseline_file(tmp_path, baseline_dict):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(baseline_dict))
    return path
