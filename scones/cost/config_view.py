"""The one place the cost model reads the typed configuration (everything else comes from the
synthesized templates), so a renamed or regrouped config field is a one-line change here."""
from __future__ import annotations

from typing import Any

from .model import BucketLayout


def bucket_layout(config: Any) -> BucketLayout:
    """The data bucket's key prefixes the workflow writes under (to match its lifecycle rules)."""
    return BucketLayout(incoming=config.incoming_prefix, quarantine=config.quarantine_prefix,
                        capture=config.capture_prefix)
