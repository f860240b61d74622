"""batch_summary: the last step of a batch execution; counts its per-object results.

Handler `lambdas.batch_summary.handler.handler`. Input (the batch state machine's summary step)::

    {"bucket", "results_folder": "<batch_results_prefix><execution name>/",
     "tolerated_failure_percentage", "execution_id",
     "run": {"status": "SUCCEEDED" | "FAILED", "prefix", "publish_routing_events",
             "map_run": {"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}   (when it succeeded)
             "error", "cause"                                                      (when it failed)}}

Output: the summary (`scones_contracts.batch.BatchSummary.document`), also written to
`<results_folder>summary.json`. A map run that failed before writing results gives a summary of
zero objects with its error. Environment: BATCH_RESULTS_PREFIX (the function reads and writes
only there), POWERTOOLS_*.

Raises (errorType): `InvalidSummaryRequestError` (malformed input, or a folder outside the results
prefix), `ResultsError` (a listed result file is missing or not a ResultWriter file),
`ConfigurationError`.

Metrics (dimension `service`): BatchObjects (objects in the batch), BatchObjectsFailed.
"""
from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from scones_contracts import metrics as names
from scones_contracts.batch import SUMMARY_NAME, BatchSummary
from scones_contracts.env import Environment
from scones_contracts.s3_uri import s3_uri

from ..shared import aws_clients
from ..shared.observability import Observability
from .results import find_manifest, read_results

observability = Observability()
logger, metrics, tracer = observability.logger, observability.metrics, observability.tracer


class InvalidSummaryRequestError(Exception):
    """The summary step's input is not what the batch state machine sends."""


def summarize(s3: Any, event: dict[str, Any], results_prefix: str) -> dict[str, Any]:
    """The pure step (S3 client passed in): count, write summary.json, return the summary."""
    try:
        bucket, folder, run = event["bucket"], event["results_folder"], event["run"]
        status, prefix = run["status"], run["prefix"]
        tolerated = float(event["tolerated_failure_percentage"])
    except (KeyError, TypeError, ValueError) as err:
        raise InvalidSummaryRequestError(f"invalid summary request: missing or bad {err}") from None
    if not (isinstance(folder, str) and folder.startswith(results_prefix) and folder.endswith("/")):
        raise InvalidSummaryRequestError(f"results folder {folder!r} is not a folder under {results_prefix!r}")
    reported = ((run.get("map_run") or {}).get("ResultWriterDetails") or {}).get("Key")
    manifest = find_manifest(s3, bucket, folder, reported)
    summary = BatchSummary(bucket=bucket, prefix=prefix, results=s3_uri(bucket, manifest or folder),
                           tolerated_failure_percentage=tolerated)
    if manifest:
        for result in read_results(s3, bucket, manifest):
            summary.add(result)
    document = summary.document(status, run.get("error"), run.get("cause"))
    document["summary_key"] = folder + SUMMARY_NAME
    s3.put_object(Bucket=bucket, Key=folder + SUMMARY_NAME, Body=json.dumps(document, indent=1).encode(),
                  ContentType="application/json")
    return document


@observability.handler()
def handler(event: Any, context: Any) -> dict[str, Any]:
    results_prefix = Environment().text("BATCH_RESULTS_PREFIX")
    if not isinstance(event, dict):
        raise InvalidSummaryRequestError(f"invalid summary request: expected an object, got {type(event).__name__}")
    document = summarize(aws_clients.client("s3"), event, results_prefix)
    metrics.add_metric(name=names.BATCH_OBJECTS, unit=MetricUnit.Count, value=document["objects"])
    metrics.add_metric(name=names.BATCH_OBJECTS_FAILED, unit=MetricUnit.Count, value=document["counts"]["failed"])
    logger.info("batch summarized", extra={k: document[k] for k in ("status", "prefix", "objects", "counts",
                                                                      "failed_percentage", "results")})
    return document
