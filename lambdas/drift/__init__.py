"""Drift detection over SageMaker data-capture traffic.

The core (``capture``, ``drift``, ``s3source``) uses only the standard library; ``handler`` adds boto3
and is the Lambda entry point (deployed with this folder as the ``drift`` package:
handler ``drift.handler.handler``). Importing the package does not import boto3.
"""
from .capture import (
    DEFAULT_CLASS_NAMES,
    BadRecord,
    CaptureParseError,
    CaptureRecord,
    ParseResult,
    decode_capture_data,
    iter_capture_files,
    parse_file,
    parse_line,
    parse_lines,
    parse_paths,
    parse_record,
)
from .drift import (
    DEFAULT_THRESHOLD,
    Baseline,
    BaselineError,
    DriftThresholds,
    baseline_from_bytes,
    baseline_from_dict,
    build_report,
    compute_drift,
    histogram,
    load_baseline,
    psi,
    summarize,
    total_variation,
)

__all__ = [
    "DEFAULT_CLASS_NAMES", "DEFAULT_THRESHOLD", "BadRecord", "Baseline", "BaselineError", "CaptureParseError",
    "CaptureRecord", "DriftThresholds", "ParseResult", "baseline_from_bytes", "baseline_from_dict",
    "build_report", "compute_drift", "decode_capture_data", "histogram", "iter_capture_files", "load_baseline",
    "parse_file", "parse_line", "parse_lines", "parse_paths", "parse_record", "psi", "summarize",
    "total_variation",
]
