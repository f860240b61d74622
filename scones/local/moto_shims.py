"""Where moto's Step Functions interpreter differs from AWS, and how the local runtime evens it out.

1. SDK integrations: AWS Step Functions passes `s3:copyObject`'s `CopySource` through as given,
   and AWS requires it URL-encoded (our serialize function encodes it). moto's interpreter calls
   boto3, whose botocore percent-encodes CopySource once more. `sdk_copy_source_as_in_aws()`
   makes botocore decode first, so an AWS-correct (encoded) CopySource reaches moto intact.
"""
from __future__ import annotations

import contextlib
from typing import Iterator
from unittest import mock
from urllib.parse import unquote

import botocore.handlers

from .lambda_hook import route_lambda_invocations

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


@contextlib.contextmanager
def sdk_copy_source_as_in_aws() -> Iterator[None]:
    original = botocore.handlers._quote_source_header
    with mock.patch.object(botocore.handlers, "_quote_source_header", lambda value: original(unquote(value))):
        yield


@contextlib.contextmanager
def local_cloud(on_invoke=None) -> Iterator[None]:
    """moto with the Step Functions interpreter on, real Lambda handlers, and the shims above."""
    from moto import mock_aws

    with mock_aws(config=MOTO_CONFIG), route_lambda_invocations(on_invoke), sdk_copy_source_as_in_aws():
        yield
