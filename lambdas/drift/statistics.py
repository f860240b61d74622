"""The drift statistics (standard library only).

* Confidence PSI: population stability index of the top-class probability between the baseline
  and the captured traffic, `PSI = sum_i (a_i - e_i) * ln(a_i / e_i)` over `n_bins` equal-width
  bins on [0.5, 1.0] (a 2-class top probability is never below 0.5; values outside the range go to
  the first/last bin). An empty bin's share is replaced by `epsilon` (shares are not renormalised)
  so the logarithm stays finite. Rule of thumb: < 0.1 stable, 0.1-0.2 moderate, > 0.2 significant.
* Class-mix shift: total variation distance between the predicted-class shares,
  `TVD = 0.5 * sum_c |p_c - q_c|` (0 = same mix, 1 = disjoint).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

DEFAULT_BINS = 10
CONFIDENCE_RANGE = (0.5, 1.0)
DEFAULT_EPSILON = 1e-4


@dataclass(frozen=True)
class DriftThresholds:
    psi: float = 0.2                       # confidence PSI above this = drift
    class_mix_tvd: float = 0.15            # class-mix total variation distance above this = drift
    low_confidence_delta: float = 0.15     # rise of the low-confidence share above this = drift
    min_records: int = 30                  # never flag drift on fewer valid records
    n_bins: int = DEFAULT_BINS
    epsilon: float = DEFAULT_EPSILON

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bin_edges(n_bins: int = DEFAULT_BINS, lo: float = CONFIDENCE_RANGE[0], hi: float = CONFIDENCE_RANGE[1]) -> list[float]:
    return [lo + (hi - lo) * i / n_bins for i in range(n_bins + 1)]


def histogram(values: Iterable[float], n_bins: int = DEFAULT_BINS, lo: float = CONFIDENCE_RANGE[0],
              hi: float = CONFIDENCE_RANGE[1]) -> list[int]:
    """Counts per equal-width bin on [lo, hi]; out-of-range values go to the first/last bin."""
    counts = [0] * n_bins
    width = (hi - lo) / n_bins
    for value in values:
        index = int((value - lo) // width) if value > lo else 0
        counts[min(max(index, 0), n_bins - 1)] += 1
    return counts


def smoothed_shares(counts: Sequence[int], epsilon: float = DEFAULT_EPSILON) -> list[float]:
    total = sum(counts)
    if total <= 0:
        raise ValueError("cannot take shares of an empty distribution")
    return [max(c / total, epsilon) for c in counts]


def psi(expected_counts: Sequence[int], actual_counts: Sequence[int], epsilon: float = DEFAULT_EPSILON) -> float:
    """Population stability index between two count vectors over the same bins."""
    if len(expected_counts) != len(actual_counts):
        raise ValueError("PSI needs two count vectors of the same length")
    expected = smoothed_shares(expected_counts, epsilon)
    actual = smoothed_shares(actual_counts, epsilon)
    return sum((a - e) * math.log(a / e) for e, a in zip(expected, actual))


def total_variation(p: Sequence[float], q: Sequence[float]) -> float:
    return 0.5 * sum(abs(a - b) for a, b in zip(p, q))
