"""Data-capture fixtures: `lib`, a baseline dict and its file (tests/capture_fixtures.py)."""
from tests.capture_fixtures import baseline_dict, baseline_file, lib  # noqa: F401 (fixtures used by name)
