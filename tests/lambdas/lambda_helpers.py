"""Small helpers shared by the Lambda tests (EMF parsing, payload builders)."""
from __future__ import annotations

import json


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


def serialized_image(data: bytes, bucket: str = "scones-uploads-test", key: str = "incoming/bike.png",
                     etag: str | None = "0123456789abcdef", version_id: str | None = None) -> dict:
    """What the serialize function returns for ``data`` (built with its real core, no S3 needed)."""
    from lambdas.serialize.image_check import Settings, inspect_image, valid_outcome

    image = inspect_image(data, Settings())
    return valid_outcome(bucket=bucket, key=key, etag=etag, version_id=version_id, source_bytes=len(data),
                         image=image)
