"""Helpers for the tests of data capture (the drift check, `scones capture-report`, the capture
writer): fixture paths, an independent raw-capture reader and synthetic traffic generators.
Each of those test folders exposes them as the `lib` fixture (`namespace()`)."""
from __future__ import annotations

import base64
import io
import json
import os
import random
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "datacapture"
ENDPOINT = "scones-vehicle-classifier"
REAL_CAPTURE = FIXTURES / ENDPOINT
MALFORMED = FIXTURES / "malformed"
SHARED_SAMPLES = ROOT.parent / "shared" / "data" / "datacapture-samples"
CLASS_NAMES = ("bicycle", "motorcycle")


def raw_capture_lines(root: Path) -> list[tuple[Path, str]]:
    """Every non-blank line of every .jsonl under root, read without the analyzer."""
    out = []
    for path in sorted(root.rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                out.append((path, line))
    return out


def raw_output_probs(obj: dict) -> list[float]:
    """Decode endpointOutput independently of the product code (JSON or BASE64 encodings)."""
    output = obj["captureData"]["endpointOutput"]
    data = output["data"]
    if output["encoding"] == "BASE64":
        data = base64.b64decode(data).decode()
    return json.loads(data)


def make_baseline(seed: int = 7, n: int = 400, bicycle_share: float = 0.65, threshold: float = 0.93) -> dict:
    """A validation baseline in the training schema: mostly confident, some hard cases."""
    rng = random.Random(seed)
    top, predicted = [], []
    for _ in range(n):
        # u**4 piles the mass near 1.0 with a tail towards 0.5, like a trained softmax
        top.append(round(1.0 - 0.5 * rng.random() ** 4, 6))
        predicted.append("bicycle" if rng.random() < bicycle_share else "motorcycle")
    return {
        "version": 1,
        "source": "validation",
        "threshold": threshold,
        "class_names": list(CLASS_NAMES),
        "top_confidence": top,
        "predicted": predicted,
        "class_counts": {name: predicted.count(name) for name in CLASS_NAMES},
    }


def probs_for(label: str, top: float) -> list[float]:
    return [top, 1.0 - top] if label == "bicycle" else [1.0 - top, top]


def sample_traffic(baseline: dict, n: int, seed: int, *, low_confidence: bool = False,
                   bicycle_share: float | None = None) -> list[list[float]]:
    """Probability vectors. By default resampled from the baseline's (top, predicted) pairs;
    ``low_confidence`` draws the top probability uniformly from [0.5, 0.95] instead and
    ``bicycle_share`` overrides the class mix."""
    rng = random.Random(seed)
    pairs = list(zip(baseline["top_confidence"], baseline["predicted"]))
    out = []
    for _ in range(n):
        top, label = rng.choice(pairs)
        if low_confidence:
            top = 0.5 + 0.45 * rng.random()
        if bicycle_share is not None:
            label = "bicycle" if rng.random() < bicycle_share else "motorcycle"
        out.append(probs_for(label, top))
    return out


def write_traffic(writer, probs_list, start: datetime, spacing: timedelta = timedelta(seconds=30),
                  png: bytes = b"\x89PNG\r\n\x1a\nfake") -> list[str]:
    paths = []
    for i, probs in enumerate(probs_list):
        paths.append(writer.write(png, "image/png", json.dumps(probs).encode(), "application/json",
                                  inference_time=start + i * spacing))
    return paths


def model_tar_gz(baseline: dict, member: str = "baseline.json", extra: dict[str, bytes] | None = None) -> bytes:
    """A model.tar.gz like the training job's: model weights plus baseline.json at the root."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        files = {"model.pth": os.urandom(64), member: json.dumps(baseline).encode(), **(extra or {})}
        for name, blob in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


def namespace() -> SimpleNamespace:
    return SimpleNamespace(
        ROOT=ROOT, FIXTURES=FIXTURES, ENDPOINT=ENDPOINT, REAL_CAPTURE=REAL_CAPTURE, MALFORMED=MALFORMED,
        SHARED_SAMPLES=SHARED_SAMPLES, CLASS_NAMES=CLASS_NAMES,
        raw_capture_lines=raw_capture_lines, raw_output_probs=raw_output_probs, make_baseline=make_baseline,
        probs_for=probs_for, sample_traffic=sample_traffic, write_traffic=write_traffic,
        model_tar_gz=model_tar_gz, utc=lambda *a: datetime(*a, tzinfo=timezone.utc),
    )
