"""Pure core of the expiry: which review item an expired wait belongs to.

Input (the state machine's "Expire review" task, after the wait for a reviewer timed out)::

    {"reason": "low_confidence" | "processing_failed", "execution_id": str}

The item is `review_id(execution_id, reason)`: the intake derived it the same way.
"""
from __future__ import annotations

from typing import Any, Literal

from scones_contracts.review import review_id

from ..shared.payloads import NonBlank, StrictModel, parse_payload


class InvalidExpiryRequestError(Exception):
    """The state machine sent an expiry request without a waiting reason or an execution id."""


class ExpiryRequest(StrictModel):
    reason: Literal["low_confidence", "processing_failed"]
    execution_id: NonBlank

    @property
    def review_id(self) -> str:
        return review_id(self.execution_id, self.reason)


def parse_expiry(event: Any) -> ExpiryRequest:
    return parse_payload(event, ExpiryRequest, InvalidExpiryRequestError, "expiry request")
