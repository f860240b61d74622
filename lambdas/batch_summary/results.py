"""Reading one batch execution's results from S3: the ResultWriter manifest and its result files.

Takes the boto3 S3 client as an argument, so it runs unchanged against AWS, moto or a local
endpoint. Result files are streamed (`scones_contracts.batch.iter_json_array`): a map run over
millions of objects writes gigabytes of records, and this holds one record at a time.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

from scones_contracts.batch import MANIFEST_NAME, ObjectResult, iter_json_array, object_result, result_files

CHUNK_BYTES = 1 << 20


class ResultsError(Exception):
    """The results cannot be read (named in the message)."""


def find_manifest(s3: Any, bucket: str, folder: str, reported_key: str | None = None) -> str | None:
    """The manifest key of the execution whose results live under `folder`: the one the map run
    reported, else the newest `<folder><map run id>/manifest.json` (a map run that failed reports
    none); None when the map run wrote nothing (it failed before the ResultWriter ran)."""
    if reported_key:
        if not reported_key.startswith(folder):
            raise ResultsError(f"manifest {reported_key!r} is outside this execution's results folder {folder!r}")
        return reported_key
    newest: tuple[Any, str] | None = None
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/" + MANIFEST_NAME) and (newest is None or item["LastModified"] > newest[0]):
                newest = (item["LastModified"], item["Key"])
    return newest[1] if newest else None


def read_results(s3: Any, bucket: str, manifest_key: str) -> Iterator[ObjectResult]:
    """One `ObjectResult` per record of every result file the manifest lists."""
    manifest = json.loads(_get(s3, bucket, manifest_key).read())
    for status, key in result_files(manifest):
        body = _get(s3, bucket, key)
        try:
            for record in iter_json_array(iter(lambda: body.read(CHUNK_BYTES), b"")):
                yield object_result(record, status)
        except ValueError as err:
            raise ResultsError(f"s3://{bucket}/{key} is not a ResultWriter file: {err}") from None
        finally:
            body.close()


def _get(s3: Any, bucket: str, key: str) -> Any:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"]
    except s3.exceptions.NoSuchKey:
        raise ResultsError(f"s3://{bucket}/{key} does not exist") from None
