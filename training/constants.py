"""Facts about the network shared by training, the artifact and serving (one place to change them).

The class names and the routing threshold are contracts with the rest of the product:
`scones_contracts.classes` and `scones_contracts.decision`.
"""
from __future__ import annotations

from pathlib import Path

INPUT_SIZE = 32  # the network sees 32x32 RGB, like the CIFAR-100 images it is trained on
# CIFAR-100 channel statistics; fixed (not re-estimated per run) so preprocessing never drifts.
NORMALIZE_MEAN: tuple[float, float, float] = (0.5071, 0.4865, 0.4409)
NORMALIZE_STD: tuple[float, float, float] = (0.2673, 0.2564, 0.2762)

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA_DIR = REPO_ROOT / "data" / "sample" / "cifar100-bicycle-motorcycle"
