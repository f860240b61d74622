"""The errors the serialize function raises to the state machine (Lambda reports `errorType` = class name).

An invalid *image* is not among them: it is an outcome (`{"valid": false, ...}`), see outcomes.py.
A bad environment variable raises `scones_contracts.env.ConfigurationError`.
"""
from __future__ import annotations


class SerializeError(Exception):
    """Base class of the errors the serialize function raises to the state machine."""


class InvalidEventError(SerializeError):
    """The execution input is not a valid `{"bucket", "key", ...}` object."""


class ImageNotFoundError(SerializeError):
    """The S3 object named by the event does not exist (as given nor URL-decoded)."""
