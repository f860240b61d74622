"""The one place the cost model reads the typed configuration (everything else comes from the
synthesized templates), so a renamed or regrouped config field is a one-line change here."""
from __future__ import annotations

from typing import Any

from .model import BucketLayout


def bucket_layout(config: Any) -> BucketLayout:
    """The data bucket's key prefixes the workflow writes under (to match its lifecycle rules)."""
    return BucketLayout(incoming=config.bucket.incoming_prefix, quarantine=config.bucket.quarantine_prefix,
                        capture=config.bucket.capture_prefix)


def confidence_threshold(config: Any) -> float:
    """The routing threshold the measured run used (recorded with the measurement)."""
    return config.decision.threshold
