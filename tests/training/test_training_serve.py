"""Serving handlers on real encoded images of several kinds, and on every kind of bad request."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from scones_contracts.classes import CLASS_NAMES
from training.constants import INPUT_SIZE, SAMPLE_DATA_DIR
from training.dataset import load_labeled_images
from training.imaging import normalize
from training.serve import (
    ImageTooLargeError,
    InferenceError,
    InvalidImageError,
    UnsupportedAcceptError,
    UnsupportedContentTypeError,
    input_fn,
    output_fn,
    predict_fn,
)
from tests.training.training_test_support import encode, png_bomb

WHITE = normalize(torch.full((1, 3, INPUT_SIZE, INPUT_SIZE), 255, dtype=torch.uint8))


def classify(body: bytes, content_type: str, model, accept: str = "application/json"):
    return json.loads(output_fn(predict_fn(input_fn(body, content_type), model), accept))


@pytest.fixture(scope="module")
def sample_image(sample_png_bytes) -> Image.Image:
    import io

    return Image.open(io.BytesIO(sample_png_bytes)).convert("RGB")


def test_sample_png_is_preprocessed_exactly_like_training(sample_png_bytes, sample_entries):
    tensor = input_fn(sample_png_bytes, "image/png")
    assert tensor.shape == (1, 3, INPUT_SIZE, INPUT_SIZE) and tensor.dtype == torch.float32
    pixels = np.asarray(Image.open(SAMPLE_DATA_DIR / "train" / sample_entries[0].relative_path).convert("RGB"))
    expected = normalize(torch.from_numpy(pixels.copy()).permute(2, 0, 1).unsqueeze(0))
    assert torch.equal(tensor, expected)


@pytest.mark.parametrize("size, fmt, content_type", [
    ((32, 32), "PNG", "image/png"),
    ((1024, 768), "JPEG", "image/jpeg"),
    ((640, 480), "JPEG", "application/x-image"),
    ((31, 97), "PNG", "image/png; charset=binary"),
    ((200, 150), "WEBP", "image/webp"),
])
def test_default_response_is_two_calibrated_probabilities(size, fmt, content_type, sample_image, loaded_model):
    body = encode(sample_image.resize(size, Image.Resampling.BICUBIC), fmt)
    probabilities = classify(body, content_type, loaded_model)
    assert isinstance(probabilities, list) and len(probabilities) == len(CLASS_NAMES)
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert abs(sum(probabilities) - 1.0) < 1e-5


def test_large_jpeg_and_its_32px_original_get_similar_answers(sample_image, loaded_model):
    small = classify(encode(sample_image, "PNG"), "image/png", loaded_model)
    large = classify(encode(sample_image.resize((1024, 768), Image.Resampling.BICUBIC), "JPEG", quality=95),
                     "image/jpeg", loaded_model)
    assert abs(small[0] - large[0]) < 0.25


def test_verbose_accept_gives_label_confidence_probabilities_and_version(sample_png_bytes, loaded_model):
    plain = classify(sample_png_bytes, "image/png", loaded_model)
    verbose = classify(sample_png_bytes, "image/png", loaded_model, "application/json; verbose=true")
    assert set(verbose) == {"label", "confidence", "probabilities", "model_version"}
    assert verbose["probabilities"] == dict(zip(CLASS_NAMES, plain))
    assert verbose["label"] == CLASS_NAMES[int(np.argmax(plain))]
    assert verbose["confidence"] == max(plain)
    assert verbose["model_version"] == loaded_model.metadata["model_version"]


@pytest.mark.parametrize("accept", [None, "", "*/*", "application/*", "application/json",
                                    "text/html;q=0.9, application/json", "application/json; verbose=false"])
def test_accept_variants_that_mean_plain_json(accept, sample_png_bytes, loaded_model):
    assert isinstance(classify(sample_png_bytes, "image/png", loaded_model, accept), list)


def test_rgba_transparency_is_composited_onto_white():
    transparent = Image.new("RGBA", (64, 48), (255, 0, 0, 0))
    assert torch.allclose(input_fn(encode(transparent, "PNG"), "image/png"), WHITE)
    opaque = Image.new("RGBA", (64, 48), (255, 0, 0, 255))
    red = input_fn(encode(opaque, "PNG"), "image/png")
    assert red[0, 0].min() > red[0, 1].max()  # red channel dominates: alpha=255 kept the colour


def test_palette_png_with_transparency_and_grayscale_are_accepted():
    palette = Image.new("P", (40, 40), 0)
    palette.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    assert torch.allclose(input_fn(encode(palette, "PNG", transparency=0), "image/png"), WHITE)
    gray = input_fn(encode(Image.new("L", (50, 50), 128), "JPEG"), "image/jpeg")
    assert gray.shape == (1, 3, INPUT_SIZE, INPUT_SIZE)
    assert torch.allclose(gray[0, 0] * 0.2673 + 0.5071, gray[0, 1] * 0.2564 + 0.4865, atol=0.02)


def test_exif_orientation_is_applied():
    upright = Image.new("RGB", (64, 32), (0, 0, 255))
    upright.paste((255, 255, 0), (0, 0, 32, 32))  # left half yellow, right half blue
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a camera held sideways stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    rotated_body = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    from_exif = input_fn(rotated_body, "image/jpeg")
    expected = input_fn(encode(upright, "JPEG", quality=95), "image/jpeg")
    assert (from_exif - expected).abs().mean() < 0.1
    unrotated = input_fn(encode(stored, "JPEG", quality=95), "image/jpeg")
    assert (unrotated - expected).abs().mean() > 0.5


@pytest.mark.parametrize("body, content_type, error, status", [
    (b"", "image/png", InvalidImageError, 400),
    (b"this is certainly not an image", "image/png", InvalidImageError, 400),
    ("a str body", "image/jpeg", InvalidImageError, 400),
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "application/x-image", InvalidImageError, 400),
    (b"\x89PNG\r\n\x1a\n", "image/png", InvalidImageError, 400),
    (b"\x89PNG", "application/json", UnsupportedContentTypeError, 415),
    (b"\x89PNG", "text/plain", UnsupportedContentTypeError, 415),
    (b"\x89PNG", None, UnsupportedContentTypeError, 415),
])
def test_bad_requests_raise_client_errors(body, content_type, error, status):
    with pytest.raises(error) as caught:
        input_fn(body, content_type)
    assert caught.value.status_code == status
    assert isinstance(caught.value, InferenceError) and caught.value.message


def test_truncated_png_and_jpeg_are_400(sample_image):
    for fmt, content_type in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
        body = encode(sample_image.resize((300, 200)), fmt)
        with pytest.raises(InvalidImageError) as caught:
            input_fn(body[: len(body) // 2], content_type)
        assert caught.value.status_code == 400
        assert "truncated" in caught.value.message or "corrupt" in caught.value.message


@pytest.mark.parametrize("width, height", [(100_000, 100_000), (8_000, 8_000)])
def test_decompression_bomb_is_refused_before_decoding(width, height):
    body = png_bomb(width, height)
    assert len(body) < 2000
    with pytest.raises(ImageTooLargeError) as caught:
        input_fn(body, "image/png")
    assert caught.value.status_code == 413
    assert "limit" in caught.value.message and str(width * height) in caught.value.message


@pytest.mark.parametrize("accept", ["text/csv", "application/xml", "image/png"])
def test_unsupported_accept_is_406(accept, sample_png_bytes, loaded_model):
    prediction = predict_fn(input_fn(sample_png_bytes, "image/png"), loaded_model)
    with pytest.raises(UnsupportedAcceptError) as caught:
        output_fn(prediction, accept)
    assert caught.value.status_code == 406 and accept in caught.value.message


def test_batch_prediction_returns_one_row_per_image(loaded_model):
    data = load_labeled_images(SAMPLE_DATA_DIR)
    batch = normalize(data.images[:5])
    rows = json.loads(output_fn(predict_fn(batch, loaded_model), "application/json"))
    assert len(rows) == 5 and all(len(row) == 2 for row in rows)
    singles = [classify_tensor(batch[i:i + 1], loaded_model) for i in range(5)]
    assert np.allclose(rows, singles, atol=1e-5)


def classify_tensor(tensor, model):
    return json.loads(output_fn(predict_fn(tensor, model), "application/json"))
