"""The drift baseline: what the model predicted on its validation split at training time.

One class for both sides: the training writes it into model.tar.gz as `baseline.json`
(`Baseline.from_predictions(...).to_json_bytes()`); the drift check and `scones capture-report`
read it back (`Baseline.from_bytes` / `Baseline.load`, from the JSON or from a model.tar.gz
holding it). Schema (version 1)::

    {"version": 1, "source": "validation", "threshold": 0.93,
     "class_names": ["bicycle", "motorcycle"],
     "top_confidence": [0.99, ...],            # calibrated top probability per validation image
     "predicted": ["bicycle", ...],            # predicted class per image, same length
     "class_counts": {"bicycle": n, "motorcycle": m}}   # = counts of `predicted`
"""
from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .classes import validate_class_names
from .decision import validate_threshold
from .model_artifact import BASELINE_FILE
from .tarball import TarballError, is_tarball, read_members

SCHEMA_VERSION = 1
_KEYS = ("version", "source", "threshold", "class_names", "top_confidence", "predicted", "class_counts")


class BaselineError(ValueError):
    """The baseline is missing, unreadable or does not follow the schema."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Baseline:
    threshold: float
    class_names: tuple[str, ...]
    top_confidence: tuple[float, ...]
    predicted: tuple[str, ...]
    class_counts: dict[str, int]
    source: str = "validation"
    version: int = SCHEMA_VERSION

    @classmethod
    def from_predictions(cls, probabilities: Sequence[Sequence[float]], class_names: Sequence[str],
                         threshold: float, source: str = "validation") -> Baseline:
        """From the calibrated probability rows of the validation images (one row per image)."""
        names = tuple(class_names)
        top = [max(row) for row in probabilities]
        predicted = [names[max(range(len(row)), key=row.__getitem__)] for row in probabilities]
        return cls.from_dict({"version": SCHEMA_VERSION, "source": source, "threshold": threshold,
                              "class_names": list(names), "top_confidence": [float(t) for t in top],
                              "predicted": predicted,
                              "class_counts": {name: predicted.count(name) for name in names}},
                             origin="baseline")

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "source": self.source,
            "threshold": self.threshold,
            "class_names": list(self.class_names),
            "top_confidence": list(self.top_confidence),
            "predicted": list(self.predicted),
            "class_counts": dict(self.class_counts),
        }

    def to_json_bytes(self) -> bytes:
        """Stable JSON (sorted keys, 2-space indent, trailing newline): same baseline, same bytes."""
        return (json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_dict(cls, data: Any, origin: str = "baseline") -> Baseline:
        """Validate the schema; raise :class:`BaselineError` naming `origin` and the first problem."""

        def fail(message: str) -> BaselineError:
            return BaselineError(f"{origin}: {message}")

        if not isinstance(data, dict):
            raise fail("top level must be a JSON object")
        missing = [key for key in _KEYS if key not in data]
        if missing:
            raise fail(f"missing key(s) {', '.join(missing)}")
        if data["version"] != SCHEMA_VERSION or isinstance(data["version"], bool):
            raise fail(f"unsupported version {data['version']!r} (expected {SCHEMA_VERSION})")
        if not isinstance(data["source"], str):
            raise fail("source must be a string")
        try:
            threshold = validate_threshold(data["threshold"], "threshold")
            names = validate_class_names(data["class_names"] if isinstance(data["class_names"], list) else (),
                                         "class_names")
        except ValueError as err:
            raise fail(str(err)) from None
        conf = data["top_confidence"]
        if not isinstance(conf, list) or not conf:
            raise fail("top_confidence must be a non-empty list of numbers")
        for i, value in enumerate(conf):
            if not _is_number(value) or not 0 <= value <= 1:
                raise fail(f"top_confidence[{i}] = {value!r} is not a probability in [0, 1]")
        predicted = data["predicted"]
        if not isinstance(predicted, list) or len(predicted) != len(conf):
            raise fail(f"predicted must be a list as long as top_confidence ({len(conf)})")
        for i, label in enumerate(predicted):
            if label not in names:
                raise fail(f"predicted[{i}] = {label!r} is not one of class_names {list(names)}")
        counts = data["class_counts"]
        if not isinstance(counts, dict) or set(counts) != set(names):
            raise fail(f"class_counts must have exactly the keys {list(names)}")
        for name in names:
            if not isinstance(counts[name], int) or isinstance(counts[name], bool) or counts[name] < 0:
                raise fail(f"class_counts[{name!r}] must be a non-negative integer")
            actual = predicted.count(name)
            if counts[name] != actual:
                raise fail(f"class_counts[{name!r}] = {counts[name]} but predicted holds {actual}")
        return cls(threshold=threshold, class_names=names, top_confidence=tuple(float(v) for v in conf),
                   predicted=tuple(predicted), class_counts={name: int(counts[name]) for name in names},
                   source=data["source"], version=SCHEMA_VERSION)

    @classmethod
    def from_bytes(cls, blob: bytes, origin: str = "baseline") -> Baseline:
        """`baseline.json`'s bytes, or a (gzipped) tarball such as model.tar.gz holding it at its root."""
        if is_tarball(blob):
            try:
                found = read_members(io.BytesIO(blob), [BASELINE_FILE], origin=origin)
            except TarballError as err:
                raise BaselineError(str(err)) from None
            if BASELINE_FILE not in found:
                raise BaselineError(f"{origin}: archive has no {BASELINE_FILE} at its root")
            blob, origin = found[BASELINE_FILE], f"{origin}!{BASELINE_FILE}"
        try:
            data = json.loads(blob.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise BaselineError(f"{origin}: not valid JSON ({err})") from None
        return cls.from_dict(data, origin)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Baseline:
        """From a `baseline.json` file or a `model.tar.gz` holding one."""
        path = os.fspath(path)
        try:
            with open(path, "rb") as handle:
                blob = handle.read()
        except OSError as err:
            raise BaselineError(f"{path}: cannot read baseline ({err.strerror or err})") from None
        return cls.from_bytes(blob, origin=path)
