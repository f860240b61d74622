"""Write data capture exactly like a SageMaker endpoint does, for the local model server.

Layout, file names and the line format are `scones_contracts.capture`'s (SageMaker's). A file
collects every record of its hour (a new hour starts a new file; `max_records_per_file` can roll
sooner). The drift check and `scones capture-report` read the result exactly as they read real
captures.
"""
from __future__ import annotations

import os
import random
import threading
import uuid
from datetime import datetime, timezone

from scones_contracts.capture import capture_line, file_name, hour_folder
from scones_contracts.endpoint import VARIANT_NAME

__all__ = ["CaptureWriter"]


class CaptureWriter:
    """Thread-safe writer of SageMaker-format capture files.

    ``sampling_percentage`` (0-100) captures that share of requests at random, like the endpoint's
    ``InitialSamplingPercentage``; ``seed`` makes the sampling reproducible.
    """

    KEEP_OPEN_HOURS = 48

    def __init__(self, root_dir: str | os.PathLike[str], endpoint_name: str, variant_name: str = VARIANT_NAME,
                 sampling_percentage: float = 100, *, max_records_per_file: int | None = None,
                 seed: int | None = None) -> None:
        if not endpoint_name or "/" in endpoint_name:
            raise ValueError(f"invalid endpoint name {endpoint_name!r}")
        if not variant_name or "/" in variant_name:
            raise ValueError(f"invalid variant name {variant_name!r}")
        if not 0 <= sampling_percentage <= 100:
            raise ValueError("sampling_percentage must be between 0 and 100")
        if max_records_per_file is not None and max_records_per_file < 1:
            raise ValueError("max_records_per_file must be at least 1")
        self.root_dir = os.fspath(root_dir)
        self.endpoint_name = endpoint_name
        self.variant_name = variant_name
        self.sampling_percentage = sampling_percentage
        self.max_records_per_file = max_records_per_file
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._files: dict[str, list] = {}  # hour folder -> [path, records written]

    @property
    def capture_dir(self) -> str:
        """``<root>/<endpoint>/<variant>``: the folder to point the analyzer at."""
        return os.path.join(self.root_dir, self.endpoint_name, self.variant_name)

    def write(self, input_bytes: bytes, input_content_type: str, output_bytes: bytes, output_content_type: str,
              inference_time: datetime | None = None, event_id: str | None = None) -> str | None:
        """Capture one request/response; returns the file written, or None when not sampled."""
        when = inference_time or datetime.now(timezone.utc)
        with self._lock:
            if self.sampling_percentage < 100 and self._random.random() * 100 >= self.sampling_percentage:
                return None
            line = capture_line(input_bytes, input_content_type, output_bytes, output_content_type, when,
                                event_id or str(uuid.uuid4()))
            hour_dir = os.path.join(self.capture_dir, *hour_folder(when).split("/"))
            current = self._files.get(hour_dir)
            if current is None or (self.max_records_per_file and current[1] >= self.max_records_per_file):
                os.makedirs(hour_dir, exist_ok=True)
                current = self._files[hour_dir] = [os.path.join(hour_dir, file_name(when, str(uuid.uuid4()))), 0]
                if len(self._files) > self.KEEP_OPEN_HOURS:  # a long-running server: forget old hours
                    for old in sorted(self._files)[:-self.KEEP_OPEN_HOURS]:
                        del self._files[old]
            with open(current[0], "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
            current[1] += 1
            return current[0]

    def close(self) -> None:
        """Forget open files (each write appends and closes, so nothing needs flushing)."""
        with self._lock:
            self._files.clear()

    def __enter__(self) -> "CaptureWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
