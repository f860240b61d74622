"""Read data-capture objects from S3 (the caller passes a boto3 S3 client; nothing is imported here).

The capture keys' `YYYY/MM/DD/HH` folder (`scones_contracts.capture`) is the hour the records in
the file were captured. For a time window only those hour folders are listed
(`<prefix><variant>/YYYY/MM/DD/HH/`, the variants found with one delimited listing), never the
whole prefix: the capture is kept for a year at up to 100 % sampling, and the scheduled check
reads one day of it every hour. Without a window (`scones capture-report`) the whole prefix is
listed, and keys outside the hour-folder layout fall back to their `LastModified`.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from scones_contracts.capture import CAPTURE_SUFFIX, hour_folder, hour_of_key

from .capture import DEFAULT_SUM_TOLERANCE, BadRecord, ParseResult, parse_lines


def object_in_window(obj: dict[str, Any], start: datetime | None, end: datetime | None) -> bool:
    """Whether a listed object may hold records captured in ``[start, end]``.

    With an hour folder, the hour ``[H, H+1h)`` must overlap the window. Otherwise ``LastModified``
    (when the file was last written) must not be before ``start``; it is not compared with ``end``,
    since a file written after the window may still hold records from inside it (the records' own
    ``inferenceTime`` decides that).
    """
    hour = hour_of_key(obj["Key"])
    if hour is not None:
        return (start is None or hour + timedelta(hours=1) > start) and (end is None or hour <= end)
    modified = obj.get("LastModified")
    if modified is None:
        return True
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=timezone.utc)
    return start is None or modified >= start


def list_capture_objects(s3: Any, bucket: str, prefix: str, start: datetime | None = None,
                         end: datetime | None = None, suffixes: Iterable[str] = (CAPTURE_SUFFIX,)) -> list[dict[str, Any]]:
    """Capture objects under ``prefix`` (sorted by key) that may hold records in the window.

    With both ``start`` and ``end``, only the hour folders overlapping the window are listed.
    """
    suffixes = tuple(suffixes)
    paginator = s3.get_paginator("list_objects_v2")
    if start is None or end is None:
        prefixes = [prefix]
    else:
        variants = [common["Prefix"] for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
                    for common in page.get("CommonPrefixes", [])]
        prefixes = [f"{variant}{hour_folder(hour)}/" for variant in variants for hour in window_hours(start, end)]
    selected = []
    for listed in prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=listed):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith(suffixes) and object_in_window(obj, start, end):
                    selected.append(obj)
    selected.sort(key=lambda o: o["Key"])
    return selected


def window_hours(start: datetime, end: datetime) -> list[datetime]:
    """The start of every hour that overlaps ``[start, end]``."""
    hour = _utc(start).replace(minute=0, second=0, microsecond=0)
    last = _utc(end)
    hours = []
    while hour <= last:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def read_s3_bytes(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def parse_s3_objects(s3: Any, bucket: str, keys: Iterable[str], n_classes: int = 2,
                     sum_tolerance: float = DEFAULT_SUM_TOLERANCE) -> ParseResult:
    """Parse the listed objects; an unreadable object becomes one bad record, never an exception."""
    result = ParseResult()
    for key in keys:
        source = f"s3://{bucket}/{key}"
        try:
            body = read_s3_bytes(s3, bucket, key)
        except Exception as err:  # botocore ClientError and friends; keep going
            result.extend(ParseResult(bad=[BadRecord(source, None, f"cannot read object: {err}")], files=1))
            continue
        result.extend(parse_lines(body.splitlines(), source=source, n_classes=n_classes,
                                  sum_tolerance=sum_tolerance))
    return result
