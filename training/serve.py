"""SageMaker PyTorch inference handlers for the bicycle/motorcycle classifier.

The SageMaker PyTorch inference container (sagemaker-pytorch-inference-toolkit) and our local
model server call, per request:

    model = model_fn(model_dir)                      # once per worker
    data = input_fn(request_body, content_type)      # bytes -> normalised tensor (1, 3, 32, 32)
    prediction = predict_fn(data, model)             # -> Prediction (calibrated probabilities)
    body = output_fn(prediction, accept)             # -> bytes (JSON)

Request: `Content-Type` image/png, image/jpeg (or image/jpg), image/webp or application/x-image
(any of the three formats), any size. The image is decoded with Pillow, EXIF-rotated, alpha
composited onto white, converted to RGB and squashed to 32x32 with antialiased bicubic resampling
(see training.imaging for why). Images above scones_contracts.images' limits (10 MiB, 40 megapixels)
are refused before any pixel is decoded.

Response (always JSON, UTF-8):
  * default (`Accept` absent, `*/*`, `application/*` or `application/json`):
        [p_bicycle, p_motorcycle]                      calibrated probabilities
  * verbose (`Accept: application/json; verbose=true`):
        {"label": "bicycle", "confidence": 0.97,
         "probabilities": {"bicycle": 0.97, "motorcycle": 0.03}, "model_version": "r9-..."}
  A batch (N > 1 images in one tensor) gives a JSON list of N such items.
  The container's response Content-Type is the toolkit's choice: the request's Accept, or
  application/json when Accept is absent or `*/*`.

Errors: every client mistake raises a subclass of `InferenceError`, which is the inference
toolkit's own `BaseInferenceToolkitError`, so the toolkit's transformer answers with its
`.status_code` (and the body "<message>\n<traceback>") instead of a 500:
`InvalidImageError` 400 (empty, not an image, truncated/corrupt), `ImageTooLargeError` 413
(decompression-bomb guard), `UnsupportedContentTypeError` 415, `UnsupportedAcceptError` 406.
Any other exception is a 500 from the toolkit, and every 500 counts toward the endpoint's
Invocation5XXErrors, which the blue/green rollback alarm watches: a client mistake must never
be one. One case stays a 500 whatever the handlers do: a body that is not UTF-8 sent as
text/csv or application/json fails inside the toolkit's transformer, which decodes those two
types before any handler runs (measured with sagemaker-inference 1.10.1).

Threads: the handlers do not change torch's thread count; a server wanting one thread per
worker calls torch.set_num_threads(1) itself. One 32x32 image takes a few ms on one thread.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import numpy as np
import torch

from training.artifact import classifier_from, extracted_artifact, load_metadata, load_state_dict
from training.imaging import ImageDecodeError, ImageTooLargeError as _DecodeTooLarge, prepare_image, to_input_tensor
from training.model import CalibratedClassifier

try:
    from sagemaker_inference.errors import BaseInferenceToolkitError
except ModuleNotFoundError:
    class BaseInferenceToolkitError(Exception):
        """The toolkit's error base where sagemaker-inference (a serving-container package) is not
        installed: a training job evaluates its test channel through these handlers, and reads only
        `status_code` and `message`. Same constructor and attributes as the toolkit's class.
        """

        def __init__(self, status_code: int, message: str, phrase: str):
            super().__init__(status_code, message, phrase)
            self.status_code, self.message, self.phrase = status_code, message, phrase


SUPPORTED_CONTENT_TYPES = ("image/png", "image/jpeg", "image/jpg", "image/webp", "application/x-image")
JSON_CONTENT_TYPE = "application/json"


class InferenceError(BaseInferenceToolkitError):
    """A request the model cannot serve; `status_code` is the HTTP status the toolkit answers with.

    `message` is the clear text for the caller; `phrase` (the HTTP reason phrase) is the status's
    standard one.
    """
    status_code = 400

    def __init__(self, message: str):
        status = type(self).status_code
        super().__init__(status, message, HTTPStatus(status).phrase)

    def __str__(self) -> str:
        return self.message


class InvalidImageError(InferenceError):
    """Body is empty, not an image, or truncated/corrupt (400)."""
    status_code = 400


class ImageTooLargeError(InvalidImageError):
    """Image refused by the decompression-bomb / body-size guard (413)."""
    status_code = 413


class UnsupportedContentTypeError(InferenceError):
    """Content type is not one of SUPPORTED_CONTENT_TYPES (415)."""
    status_code = 415


class UnsupportedAcceptError(InferenceError):
    """Accept header asks for a format we do not produce (406)."""
    status_code = 406


@dataclass
class LoadedModel:
    """What model_fn returns: the calibrated classifier plus what responses need to name."""
    classifier: CalibratedClassifier
    class_names: list[str]
    model_version: str
    metadata: dict


@dataclass
class Prediction:
    """What predict_fn returns: calibrated probabilities (N, C) and the labels/version to report."""
    probabilities: np.ndarray
    class_names: list[str]
    model_version: str


def _media_type(header: str | None) -> tuple[str, dict[str, str]]:
    """'Type/Sub; a=b' -> ('type/sub', {'a': 'b'}) lower-cased."""
    parts = [p.strip() for p in (header or "").split(";")]
    params = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        if key:
            params[key.strip().lower()] = value.strip().strip('"').lower()
    return parts[0].lower(), params


def model_fn(model_dir: str | Path) -> LoadedModel:
    """Load the artifact from an extracted model directory (SageMaker: /opt/ml/model) or a model.tar.gz."""
    with extracted_artifact(Path(model_dir)) as directory:
        metadata = load_metadata(directory)
        classifier = classifier_from(metadata, load_state_dict(directory))
    return LoadedModel(classifier, list(metadata["class_names"]), str(metadata["model_version"]), metadata)


def input_fn(request_body: bytes | bytearray | memoryview, content_type: str | None) -> torch.Tensor:
    """Image bytes -> normalised float tensor (1, 3, 32, 32); raises InferenceError subclasses."""
    media_type, _ = _media_type(content_type)
    if media_type not in SUPPORTED_CONTENT_TYPES:
        raise UnsupportedContentTypeError(
            f"unsupported content type {content_type!r}; send one of: {', '.join(SUPPORTED_CONTENT_TYPES)}")
    if isinstance(request_body, str):
        raise InvalidImageError("request body is text; send the raw image bytes")
    if not isinstance(request_body, (bytes, bytearray, memoryview)):
        raise InvalidImageError(f"request body must be bytes, got {type(request_body).__name__}")
    try:
        pixels = prepare_image(bytes(request_body))
    except _DecodeTooLarge as exc:
        raise ImageTooLargeError(str(exc)) from exc
    except ImageDecodeError as exc:
        raise InvalidImageError(str(exc)) from exc
    return to_input_tensor(pixels)


def predict_fn(data: torch.Tensor, model: LoadedModel) -> Prediction:
    """Calibrated class probabilities for a batch of normalised images (N, 3, 32, 32)."""
    if not isinstance(data, torch.Tensor) or data.ndim != 4 or data.shape[1] != 3:
        raise InvalidImageError("predict_fn expects the (N, 3, H, W) tensor produced by input_fn")
    with torch.inference_mode():
        probabilities = model.classifier.probabilities(data.float()).numpy()
    return Prediction(probabilities, model.class_names, model.model_version)


def wants_verbose(accept: str | None) -> bool:
    """Parse Accept; True for `application/json; verbose=true`, False for plain JSON, else 406.

    A comma-separated list is honoured in q order; the first range we can produce wins.
    """
    ranges = []
    for position, item in enumerate((accept or "").split(",")):
        media_type, params = _media_type(item)
        try:
            quality = float(params.get("q", "1"))
        except ValueError:
            quality = 1.0
        ranges.append((-quality, position, media_type, params))
    for negative_q, _, media_type, params in sorted(ranges):
        if negative_q >= 0:
            continue
        if media_type in ("", "*/*", "application/*", JSON_CONTENT_TYPE):
            return params.get("verbose", "false") in ("true", "1", "yes")
    raise UnsupportedAcceptError(f"cannot produce {accept!r}; accept {JSON_CONTENT_TYPE} "
                                 f"(or '{JSON_CONTENT_TYPE}; verbose=true' for labelled output)")


def _verbose_item(row: np.ndarray, class_names: list[str], model_version: str) -> dict:
    best = int(row.argmax())
    return {"label": class_names[best], "confidence": float(row[best]),
            "probabilities": {name: float(p) for name, p in zip(class_names, row)},
            "model_version": model_version}


def output_fn(prediction: Prediction, accept: str | None) -> bytes:
    """Serialise a Prediction as JSON bytes (see the module docstring for both forms)."""
    verbose = wants_verbose(accept)
    rows = np.asarray(prediction.probabilities, dtype=np.float64)
    if verbose:
        items = [_verbose_item(row, prediction.class_names, prediction.model_version) for row in rows]
    else:
        items = [[float(p) for p in row] for row in rows]
    return json.dumps(items[0] if len(items) == 1 else items).encode("utf-8")
