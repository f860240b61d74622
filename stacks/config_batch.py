"""The config group of batch reclassification (`BatchSettings`): how wide the Distributed Map runs,
how many failures it tolerates, how long it may take and how much it logs.

Same rules as `config_groups`: one frozen dataclass per concern, each field one flat `cdk.json` /
`-c` key, validated in the group's `__post_init__` with errors naming the key. The bucket layout
it reads and writes (`backlog_prefix`, `batch_results_prefix`) is in `BucketLayout`, where the
no-overlap rule covers it.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config_groups import ConfigGroup, knob

# Step Functions runs at most 10,000 child executions of one Distributed Map in parallel.
MAX_DISTRIBUTED_CONCURRENCY = 10_000
# A Standard execution may run a year; a backfill that needs more than a month should be split.
MAX_BATCH_TIMEOUT_HOURS = 30 * 24
BATCH_LOG_LEVELS = ("ALL", "ERROR")


@dataclass(frozen=True)
class BatchSettings(ConfigGroup):
    """The batch-reclassification state machine (a Distributed Map over an S3 prefix)."""

    # Objects in flight at once. They share the endpoint with live uploads: 10 keeps a backfill
    # within one ml.m5.large's headroom; raise it together with autoscaling_max_capacity.
    max_concurrency: int = knob("batch_max_concurrency", 10)
    # The map run (and the execution) fails when more than this share of objects failed; failed
    # objects are listed in the results either way.
    tolerated_failure_percentage: float = knob("batch_tolerated_failure_percentage", 5.0)
    timeout_hours: int = knob("batch_timeout_hours", 24)
    # ERROR: the log records every failure with its data, and each object's result is in the
    # results files; ALL would also log every state of every object (about 100 KB per image).
    log_level: str = knob("batch_log_level", "ERROR")
    summary_memory_mb: int = knob("batch_summary_memory_mb", 512)

    def __post_init__(self) -> None:
        self._range("max_concurrency", 1, MAX_DISTRIBUTED_CONCURRENCY,
                    " (Step Functions runs at most 10,000 child executions of a Distributed Map at once)")
        self._range("tolerated_failure_percentage", 0.0, 100.0, " percent of the objects")
        self._range("timeout_hours", 1, MAX_BATCH_TIMEOUT_HOURS, " hours")
        self._check("log_level", self.log_level in BATCH_LOG_LEVELS, f"one of {BATCH_LOG_LEVELS}")
        self._range("summary_memory_mb", 128, 10240, " MB")
