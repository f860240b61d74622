"""The review API's refusals: each carries its HTTP status and a message a reviewer can act on."""
from __future__ import annotations

from typing import Any


class ReviewApiError(Exception):
    status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.details}


class BadRequest(ReviewApiError):
    status = 400


class Unauthorized(ReviewApiError):
    status = 401


class Forbidden(ReviewApiError):
    status = 403


class NotFound(ReviewApiError):
    status = 404


class Conflict(ReviewApiError):
    status = 409


class Unavailable(ReviewApiError):
    status = 503
