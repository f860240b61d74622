"""Read the training's `metadata.json` (and `baseline.json`) out of a `model.tar.gz` in S3, and
promote the accepted artifact.

SageMaker tars SM_MODEL_DIR itself, so the member order is not ours: the archive is streamed
(`tarfile` "r|gz") until the wanted top-level files are found; nothing is written to disk and
the weights are never held in memory.
"""
from __future__ import annotations

import json
import tarfile
import zlib
from typing import Any
from urllib.parse import urlparse

METADATA_MEMBER = "metadata.json"
BASELINE_MEMBER = "baseline.json"
MAX_METADATA_BYTES = 8 * 1024 * 1024


class ArtifactError(RuntimeError):
    """The model artifact is missing, unreadable or lacks the metadata the gate needs."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ArtifactError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def _member_name(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def read_members(s3: Any, model_data_url: str, names: tuple[str, ...]) -> dict[str, bytes]:
    """The listed top-level files of the model.tar.gz at `model_data_url` (one streaming pass)."""
    bucket, key = parse_s3_uri(model_data_url)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except Exception as exc:  # botocore ClientError and friends: say which object
        raise ArtifactError(f"cannot read the model artifact {model_data_url}: {exc}") from exc
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=body, mode="r|gz") as archive:
            for member in archive:
                name = _member_name(member.name)
                if name not in names or not member.isfile():
                    continue
                if member.size > MAX_METADATA_BYTES:
                    raise ArtifactError(f"{model_data_url}: {name} is {member.size} bytes, too large")
                found[name] = archive.extractfile(member).read()
                if len(found) == len(names):
                    break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ArtifactError(f"{model_data_url} is not a readable model.tar.gz: {exc}") from exc
    finally:
        close = getattr(body, "close", None)
        if close:
            close()
    return found


def parse_metadata(raw: bytes | None, source: str) -> dict:
    if raw is None:
        raise ArtifactError(f"{source} has no top-level {METADATA_MEMBER}; the training did not write one")
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{source}: {METADATA_MEMBER} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ArtifactError(f"{source}: {METADATA_MEMBER} is not a JSON object")
    return document


def read_metadata(s3: Any, model_data_url: str) -> dict:
    """metadata.json from the model.tar.gz at `model_data_url`."""
    return parse_metadata(read_members(s3, model_data_url, (METADATA_MEMBER,)).get(METADATA_MEMBER), model_data_url)


def validation_accuracy(metadata: dict, source: str) -> float:
    """metadata["validation"]["accuracy"] as a float in [0, 1]."""
    try:
        value = float(metadata["validation"]["accuracy"])
    except (KeyError, TypeError, ValueError):
        raise ArtifactError(f"{source}: {METADATA_MEMBER} has no numeric validation.accuracy") from None
    if not 0.0 <= value <= 1.0:
        raise ArtifactError(f"{source}: validation.accuracy {value} is not within 0..1")
    return value


def promoted_uri(model_prefix_uri: str, job_name: str, file_name: str = "model.tar.gz") -> str:
    """Where an accepted model's files go: <model prefix>/<training job name>/<file_name>."""
    bucket, prefix = parse_s3_uri(model_prefix_uri)
    prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    return f"s3://{bucket}/{prefix}{job_name}/{file_name}"


def promote(s3: Any, source_uri: str, destination_uri: str) -> str:
    """Server-side copy of the accepted artifact into the models prefix (idempotent)."""
    src_bucket, src_key = parse_s3_uri(source_uri)
    dst_bucket, dst_key = parse_s3_uri(destination_uri)
    # No tags are copied (TaggingDirective REPLACE without tags), so no tagging permission is needed.
    s3.copy_object(Bucket=dst_bucket, Key=dst_key, CopySource={"Bucket": src_bucket, "Key": src_key},
                   MetadataDirective="COPY", TaggingDirective="REPLACE")
    return destination_uri


def put_bytes(s3: Any, destination_uri: str, data: bytes, content_type: str = "application/json") -> str:
    bucket, key = parse_s3_uri(destination_uri)
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
    return destination_uri
