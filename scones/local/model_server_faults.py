"""Fault injection for the local endpoint: fail a share of InvokeEndpoint calls on purpose.

`FaultInjector(rate, kind, seed)` decides, per runtime-API invocation, whether to fail it and how,
with a `random.Random(seed)`, so a run is reproducible. Kinds (`FAULT_KINDS`):

    mixed         alternate "throttle" and "model-error", so exactly half of the injected faults are
                  each (the default)
    throttle      400 ThrottlingException: botocore retries it, the classify Lambda raises
                  EndpointThrottledError
    model-error   424 ModelError with OriginalStatusCode 500 (the container failed)
    unavailable   503 ServiceUnavailable

The container contract (/invocations) never fails on purpose; the app turns a drawn kind into the
AWS error shape (scones/local/model_server_errors.py). Thread-safe: requests draw from worker threads.
"""
from __future__ import annotations

import random
import threading

FAULT_KINDS = ("mixed", "throttle", "model-error", "unavailable")


class FaultInjector:
    """Decides, per runtime-API invocation, whether to fail it on purpose and how (thread-safe)."""

    def __init__(self, rate: float = 0.0, kind: str = "mixed", seed: int = 0):
        self._lock = threading.Lock()
        self.rate, self.kind, self.seed = 0.0, "mixed", 0
        self._random = random.Random(0)
        self._next_mixed = 0
        self.injected = 0
        self.configure(rate=rate, kind=kind, seed=seed)

    def configure(self, rate: float | None = None, kind: str | None = None, seed: int | None = None) -> dict:
        """Change any of rate (0..1), kind (FAULT_KINDS) and seed (re-seeds the RNG); returns the new state."""
        if rate is not None:
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= float(rate) <= 1.0:
                raise ValueError(f"fault rate must be a number between 0 and 1, got {rate!r}")
        if kind is not None and kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"fault seed must be an integer, got {seed!r}")
        with self._lock:
            if rate is not None:
                self.rate = float(rate)
            if kind is not None:
                self.kind = kind
            if seed is not None:
                self.seed = seed
                self._random = random.Random(seed)
                self._next_mixed = 0
            return self._snapshot()

    def draw(self) -> str | None:
        """None (serve normally) or the fault kind to answer this invocation with."""
        with self._lock:
            if self.rate <= 0.0 or self._random.random() >= self.rate:
                return None
            self.injected += 1
            if self.kind != "mixed":
                return self.kind
            kind = ("throttle", "model-error")[self._next_mixed % 2]
            self._next_mixed += 1
            return kind

    def _snapshot(self) -> dict:
        return {"rate": self.rate, "kind": self.kind, "seed": self.seed, "injected": self.injected}

    def snapshot(self) -> dict:
        with self._lock:
            return self._snapshot()
