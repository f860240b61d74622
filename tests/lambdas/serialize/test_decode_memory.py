"""Decoding memory stays within the budget derived from the function's memory, measured.

Each case runs `render` (what the serialize handler runs) in a fresh Python process and measures
the peak resident memory it adds (Linux VmHWM, reset after warm-up), so Pillow's C allocations
count, which tracemalloc cannot see. The worst legal-limit pictures: before the budget and the
tiled reduction, the 1 x 39,990,000 PNG peaked at 2.2 GiB and a 6320 x 6320 RGBA PNG at 760 MiB.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scones_contracts.images import decode_memory_budget
from tests import image_factory

ROOT = Path(__file__).resolve().parents[3]
MIB = 1024 * 1024
SERIALIZE_MEMORY_MB = 1024  # the config's default serialize_memory_mb

MEASURE = r"""
import io, json, sys
sys.path.insert(0, sys.argv[1])
from PIL import Image
from lambdas.serialize.rendition import render
from lambdas.serialize.settings import Settings
from scones_imaging.decode import ImageRejected

def status(field):
    return int(next(l for l in open("/proc/self/status") if l.startswith(field)).split()[1]) * 1024

warm = io.BytesIO(); Image.new("RGB", (300, 300)).save(warm, "PNG"); render(warm.getvalue(), Settings())
data = open(sys.argv[2], "rb").read()
settings = Settings(function_memory_mb=int(sys.argv[3]))
open("/proc/self/clear_refs", "w").write("5")  # VmHWM := VmRSS
before = status("VmRSS")
try:
    image = render(data, settings)
    result = {"outcome": "rendered", "size": [image.width, image.height]}
except ImageRejected as rejection:
    result = {"outcome": rejection.reason_code, "reason": rejection.reason}
result["peak_bytes"] = status("VmHWM") - before
print(json.dumps(result))
"""


def measure(path: Path, memory_mb: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(ROOT), str(path), str(memory_mb)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def estimate(data: bytes, draft_side: int = 128) -> int:
    """`decode_cost_bytes` for the file, as decode_image computes it before decoding."""
    import io

    from PIL import Image

    from scones_imaging.memory import decode_cost_bytes

    with Image.open(io.BytesIO(data)) as image:
        stored = image.size
        if image.format == "JPEG":
            image.draft("RGB", (draft_side, draft_side))
        return decode_cost_bytes(image, image.format, stored)


def progressive_jpeg_40mp() -> bytes:
    from PIL import Image

    return image_factory.encode(Image.linear_gradient("L").resize((7300, 5470)).convert("RGB"), "JPEG",
                                quality=70, progressive=True)


WORST_CASES = {
    # name: (bytes factory, the whole pipeline used to peak at ... MiB, before this budget)
    "tall-1x39990000-rgba.png": lambda: image_factory.streamed_png(1, 39_990_000, 6, 8),
    "wide-39990000x1-rgba.png": lambda: image_factory.streamed_png(39_990_000, 1, 6, 8),
    "square-6320-rgba16.png": lambda: image_factory.streamed_png(6320, 6320, 6, 16),
    "lossless-6320x6320.webp": image_factory.lossless_webp_6320,
    "progressive-40mp.jpg": progressive_jpeg_40mp,
}


@pytest.fixture(scope="module")
def worst_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("worst")
    for name, make in WORST_CASES.items():
        (folder / name).write_bytes(make())
    return folder


@pytest.mark.parametrize("name", sorted(WORST_CASES))
def test_worst_legal_images_decode_within_the_default_budget(worst_files, name):
    path = worst_files / name
    data = path.read_bytes()
    budget = decode_memory_budget(SERIALIZE_MEMORY_MB, 10 * MIB)
    predicted = estimate(data)

    result = measure(path, SERIALIZE_MEMORY_MB)

    assert result["outcome"] == "rendered", result
    assert max(result["size"]) == 64
    assert result["peak_bytes"] <= predicted, f"measured {result['peak_bytes'] / MIB:.0f} MiB above the estimate"
    assert predicted <= budget, f"estimate {predicted / MIB:.0f} MiB above the {budget / MIB:.0f} MiB budget"
    # The function itself (runtime + libraries, FUNCTION_RESERVE_MB) fits beside it.
    assert result["peak_bytes"] < (SERIALIZE_MEMORY_MB - 160) * MIB


@pytest.mark.parametrize("name, memory_mb", [("tall-1x39990000-rgba.png", 512),
                                             ("lossless-6320x6320.webp", 512),
                                             ("square-6320-rgba16.png", 256)])
def test_a_smaller_function_refuses_them_before_decoding(worst_files, name, memory_mb):
    result = measure(worst_files / name, memory_mb)

    assert result["outcome"] == "too_large_to_decode", result
    budget_mib = -(-decode_memory_budget(memory_mb, 10 * MIB) // MIB)
    assert f"above the {budget_mib} MiB this function may use for decoding" in result["reason"]
    assert "pixels needs about" in result["reason"]
    assert result["peak_bytes"] < 16 * MIB, "refused before any pixel was decoded"
