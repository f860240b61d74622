"""Where moto's Step Functions interpreter differs from AWS, and how the local runtime evens it out.

1. SDK integrations: AWS Step Functions passes `s3:copyObject`'s `CopySource` through as given,
   and AWS requires it URL-encoded (our serialize function encodes it). moto's interpreter calls
   boto3, whose botocore percent-encodes CopySource once more. `sdk_copy_source_as_in_aws()`
   makes botocore decode first, so an AWS-correct (encoded) CopySource reaches moto intact
   (a `?versionId=` suffix is split off the encoded form, where it cannot be part of the key).
2. Key length: AWS refuses an object key longer than 1024 bytes of UTF-8 (`KeyTooLongError`);
   moto stores it. `s3_key_length_as_in_aws()` makes moto refuse it too, so a test that would
   fail in AWS fails here.
"""
from __future__ import annotations

import contextlib
from typing import Iterator
from unittest import mock
from urllib.parse import unquote

import botocore.handlers
from botocore.utils import percent_encode

from .lambda_hook import route_lambda_invocations

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


VERSION_SUFFIX = "?versionId="
MAX_KEY_BYTES = 1024


@contextlib.contextmanager
def sdk_copy_source_as_in_aws() -> Iterator[None]:
    def quote_once(value: str) -> str:
        # An encoded key holds no literal '?': the first one starts the version suffix.
        key_part, suffix, version_id = value.partition(VERSION_SUFFIX)
        return percent_encode(unquote(key_part), safe="-._~/") + suffix + version_id

    with mock.patch.object(botocore.handlers, "_quote_source_header", quote_once):
        yield


@contextlib.contextmanager
def s3_key_length_as_in_aws() -> Iterator[None]:
    from moto.s3.exceptions import S3ClientError
    from moto.s3.models import S3Backend

    original = S3Backend.put_object

    def put_object(self, bucket_name, key_name, *args, **kwargs):
        if len(key_name.encode("utf-8")) > MAX_KEY_BYTES:
            raise S3ClientError("KeyTooLongError", "Your key is too long")
        return original(self, bucket_name, key_name, *args, **kwargs)

    with mock.patch.object(S3Backend, "put_object", put_object):
        yield


@contextlib.contextmanager
def local_cloud(on_invoke=None) -> Iterator[None]:
    """moto with the Step Functions interpreter on, real Lambda handlers, and the shims above."""
    from moto import mock_aws

    with mock_aws(config=MOTO_CONFIG), route_lambda_invocations(on_invoke), sdk_copy_source_as_in_aws(), \
            s3_key_length_as_in_aws():
        yield
