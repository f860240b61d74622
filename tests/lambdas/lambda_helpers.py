"""Small helpers shared by the Lambda tests (the stack's environment, EMF parsing, payload builders)."""
from __future__ import annotations

import json

from scones_contracts.classes import CLASS_NAMES
from scones_contracts.decision import DEFAULT_THRESHOLD
from scones_contracts.images import (DEFAULT_MAX_IMAGE_BYTES, DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_PAYLOAD_MAX_SIDE,
                                     IMAGE_FORMATS)

DATA_BUCKET = "scones-data-123456789012-us-east-1"  # the templates' data bucket in moto's account and region

# The variables the workflow stack sets on the three workflow functions with the default config (all
# required by the functions; test_pipeline_and_assets compares them with the synthesized template).
WORKFLOW_ENVIRONMENT = {
    "MAX_IMAGE_BYTES": str(DEFAULT_MAX_IMAGE_BYTES),
    "MAX_IMAGE_PIXELS": str(DEFAULT_MAX_IMAGE_PIXELS),
    "ALLOWED_FORMATS": ",".join(IMAGE_FORMATS),
    "PAYLOAD_MAX_SIDE": str(DEFAULT_PAYLOAD_MAX_SIDE),
    "INCOMING_PREFIX": "incoming/",
    "QUARANTINE_PREFIX": "quarantine/",
    "ENDPOINT_NAME": "scones-vehicle-classifier",
    "CLASS_NAMES": ",".join(CLASS_NAMES),
    "MODEL_VERSION": "v7",
    "INVOKE_TIMEOUT_SECONDS": "20",
    "THRESHOLD": str(DEFAULT_THRESHOLD),
    "AUDIT_SAMPLE_RATE": "0.02",
}


def parse_emf(stdout: str) -> list[dict]:
    """Every EMF record (JSON object with an ``_aws`` key) printed on stdout."""
    records = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "_aws" in obj:
            records.append(obj)
    return records


def emf_metric_names(record: dict) -> set[str]:
    return {m["Name"] for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def emf_dimension_sets(record: dict) -> list[list[str]]:
    return [dims for d in record["_aws"]["CloudWatchMetrics"] for dims in d["Dimensions"]]


def emf_records_with(records: list[dict], metric: str) -> list[dict]:
    return [r for r in records if metric in emf_metric_names(r)]


def invoke(handler, event, context):
    """Invoke a handler the way Lambda does: JSON in, JSON out (proves the output is serialisable)."""
    result = handler(json.loads(json.dumps(event)), context)
    return json.loads(json.dumps(result))


def emf_values(record: dict, name: str) -> list[float]:
    """Values of metric ``name`` in an EMF record (Powertools writes a list, EMF also allows a scalar)."""
    value = record[name]
    return [float(v) for v in value] if isinstance(value, list) else [float(value)]


def serialized_image(data: bytes, bucket: str = DATA_BUCKET, key: str = "incoming/bike.png",
                     etag: str | None = "0123456789abcdef", version_id: str | None = None) -> dict:
    """What the serialize function returns for ``data`` (built with its real core, no S3 needed)."""
    from lambdas.serialize.outcomes import valid_outcome
    from lambdas.serialize.rendition import render
    from lambdas.serialize.settings import Settings

    image = render(data, Settings())
    return valid_outcome(bucket=bucket, key=key, etag=etag, version_id=version_id, source_bytes=len(data),
                         image=image)
