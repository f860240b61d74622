"""The evaluation gate's reads and the promotion of an accepted model: `metadata.json` (and
`baseline.json`) out of a `model.tar.gz` in S3, and the server-side copies.

SageMaker tars SM_MODEL_DIR itself, so the member order is not ours: the archive is streamed
(`scones_contracts.tarball.read_members`) until the wanted top-level files are found; nothing is
written to disk and the weights are never held in memory.
"""
from __future__ import annotations

import json
from typing import Any

from scones_contracts.model_artifact import ARTIFACT_NAME, BASELINE_FILE, METADATA_FILE, ArtifactError
from scones_contracts import s3_uri, tarball

MAX_METADATA_BYTES = 8 * 1024 * 1024


def s3_location(uri: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// URI; anything else is an ArtifactError naming it."""
    try:
        return s3_uri.parse_s3_uri(uri)
    except ValueError as err:
        raise ArtifactError(str(err)) from None


def read_members(s3: Any, model_data_url: str, names: tuple[str, ...]) -> dict[str, bytes]:
    """The listed top-level files of the model.tar.gz at `model_data_url` (one streaming pass)."""
    bucket, key = s3_location(model_data_url)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except Exception as exc:  # botocore ClientError and friends: say which object
        raise ArtifactError(f"cannot read the model artifact {model_data_url}: {exc}") from exc
    try:
        return tarball.read_members(body, names, origin=model_data_url, max_bytes=MAX_METADATA_BYTES)
    except tarball.TarballError as exc:
        raise ArtifactError(str(exc)) from exc
    finally:
        close = getattr(body, "close", None)
        if close:
            close()


def parse_metadata(raw: bytes | None, source: str) -> dict:
    if raw is None:
        raise ArtifactError(f"{source} has no top-level {METADATA_FILE}; the training did not write one")
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{source}: {METADATA_FILE} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ArtifactError(f"{source}: {METADATA_FILE} is not a JSON object")
    return document


def read_metadata(s3: Any, model_data_url: str) -> dict:
    """metadata.json from the model.tar.gz at `model_data_url`."""
    return parse_metadata(read_members(s3, model_data_url, (METADATA_FILE,)).get(METADATA_FILE), model_data_url)


def validation_accuracy(metadata: dict, source: str) -> float:
    """metadata["validation"]["accuracy"] as a float in [0, 1]."""
    try:
        value = float(metadata["validation"]["accuracy"])
    except (KeyError, TypeError, ValueError):
        raise ArtifactError(f"{source}: {METADATA_FILE} has no numeric validation.accuracy") from None
    if not 0.0 <= value <= 1.0:
        raise ArtifactError(f"{source}: validation.accuracy {value} is not within 0..1")
    return value


def promoted_uri(model_prefix_uri: str, job_name: str, file_name: str = ARTIFACT_NAME) -> str:
    """Where an accepted model's files go: <model prefix>/<training job name>/<file_name>."""
    bucket, prefix = s3_location(model_prefix_uri)
    prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    return f"s3://{bucket}/{prefix}{job_name}/{file_name}"


def promote(s3: Any, source_uri: str, destination_uri: str) -> str:
    """Server-side copy of the accepted artifact into the models prefix (idempotent)."""
    src_bucket, src_key = s3_location(source_uri)
    dst_bucket, dst_key = s3_location(destination_uri)
    # No tags are copied (TaggingDirective REPLACE without tags), so no tagging permission is needed.
    s3.copy_object(Bucket=dst_bucket, Key=dst_key, CopySource={"Bucket": src_bucket, "Key": src_key},
                   MetadataDirective="COPY", TaggingDirective="REPLACE")
    return destination_uri


def put_bytes(s3: Any, destination_uri: str, data: bytes, content_type: str = "application/json") -> str:
    bucket, key = s3_location(destination_uri)
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
    return destination_uri
