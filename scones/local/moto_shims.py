"""Where moto's Step Functions interpreter differs from AWS, and how the local runtime evens it out.

1. SDK integrations: AWS Step Functions passes `s3:copyObject`'s `CopySource` through as given,
   and AWS requires it URL-encoded (our serialize function encodes it). moto's interpreter calls
   boto3, whose botocore percent-encodes CopySource once more. `sdk_copy_source_as_in_aws()`
   makes botocore decode first, so an AWS-correct (encoded) CopySource reaches moto intact
   (a `?versionId=` suffix is split off the encoded form, where it cannot be part of the key).
2. Key length: AWS refuses an object key longer than 1024 bytes of UTF-8 (`KeyTooLongError`);
   moto stores it. `s3_key_length_as_in_aws()` makes moto refuse it too, so a test that would
   fail in AWS fails here.
3. JSONata: moto's interpreter parses JSONata states (the delivery claim is one) and hands each
   expression, with `$states` bound, to a Java JSONata library it does not ship.
   `jsonata_in_python()` evaluates them with jsonata-python, a port of that same library. moto's
   definition parser also keeps its stack of query-language scopes in a list shared by every
   parser instance, so two executions starting at once (a duplicate delivery) see each other's
   JSONata scope and fail to parse; `jsonata_in_python()` gives each parse its own stack.
4. StartExecution without a name: AWS names the execution with a fresh UUID (that is what the
   upload rule's target does for every delivery); moto names it "None", so a second unnamed start
   fails. The local dispatcher passes a fresh UUID, as AWS would (`scones.local.aws`).
5. IAM: moto enforces little of it (resources only for S3, SQS, IAM and STS, no conditions,
   CopyObject as PutObject) and its Step Functions interpreter calls every integration with fixed
   keys, not as the state machine's role. `scones.local.iam_enforcement` checks every call against
   the synthesized roles instead (the tests turn it on).
6. Distributed Map (`moto_distributed_map`, which says how each was checked against AWS's docs):
   the S3 ItemReader lists every page and hands AWS's item shape (`Etag`, `Key`, `LastModified`
   in epoch seconds, `Size`, `StorageClass`; an empty prefix is zero items, not a crash); the
   ResultWriter writes AWS's SUCCEEDED/FAILED/PENDING files and manifest (moto writes an empty
   manifest and keeps nothing of a failed item); a map run whose failures exceed
   ToleratedFailurePercentage/Count fails with `States.ExceedToleratedFailureThreshold` after
   writing its results (moto ignores the threshold); moto's grammar refuses EXPRESS children and
   a whole-number tolerated percentage, which AWS accepts.
7. JSONPath: a definite path (fields and literal indices only, e.g. `$.Entries[0].EventId`, as the
   routing step's ResultSelector reads PutEvents' answer) selects one node, and AWS passes that
   node on; moto wraps it in a one-element list whenever the path goes through an index (its fix
   for filter queries, getmoto/moto#7825, catches this case too), so `event_id` became
   `["..."]`. `definite_paths_as_in_aws()` returns the node itself for definite paths; filters,
   wildcards and slices keep moto's (and AWS's) list.
8. DynamoDB conditional writes: in AWS a condition and its write are one atomic step, so of two
   reviewers deciding the same review at once exactly one wins. moto checks the condition and then
   writes, and two threads can interleave between the two. `dynamodb_writes_atomic()` serialises
   moto's write operations so the check and the write are atomic again.
"""
from __future__ import annotations

import contextlib
import functools
import re
import threading
from typing import Iterator
from unittest import mock
from urllib.parse import unquote

import botocore.handlers
import jsonata
from botocore.utils import percent_encode

from .execution_environments import ExecutionEnvironments
from .lambda_hook import route_lambda_invocations
from .moto_distributed_map import distributed_map_as_in_aws
from .moto_fastpath import interpreter_fast_path

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


class _ScopesPerParse:
    """The query-language scope stack as an attribute of each parser instance (one per parse)."""

    def __get__(self, parser, owner):
        if parser is None:
            return self
        return parser.__dict__.setdefault("_query_language_scopes", [])


@contextlib.contextmanager
def jsonata_in_python() -> Iterator[None]:
    from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    def evaluate(expression: str):
        return jsonata.Jsonata(expression).evaluate(None)

    with mock.patch.object(moto_jsonata, "_eval_jsonata", evaluate), \
            mock.patch.object(Preprocessor, "_query_language_per_scope", _ScopesPerParse()):
        yield


_INDEFINITE = re.compile(r"\[\s*[?*]|\[[^\]]*:|\.\.|\.\*")


def is_definite(path: str) -> bool:
    """A JSONPath of fields and literal indices only (no filter, wildcard, slice or descent)."""
    return not _INDEFINITE.search(path)


@contextlib.contextmanager
def definite_paths_as_in_aws() -> Iterator[None]:
    from jsonpath_ng.ext import parse
    from moto.stepfunctions.parser.asl.component.common.string import string_expression
    from moto.stepfunctions.parser.asl.component.intrinsic.argument import argument

    original = string_expression.extract_json

    def extract_json(path: str, data):
        if is_definite(path):
            matches = parse(path).find(data)
            if len(matches) == 1:
                return matches[0].value
        return original(path, data)

    with mock.patch.object(string_expression, "extract_json", extract_json), \
            mock.patch.object(argument, "extract_json", extract_json):
        yield


DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


@contextlib.contextmanager
def dynamodb_writes_atomic() -> Iterator[None]:
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()

    def atomic(method):
        @functools.wraps(method)
        def write(*args, **kwargs):
            with lock:
                return method(*args, **kwargs)
        return write

    with contextlib.ExitStack() as stack:
        for name in DYNAMODB_WRITES:
            stack.enter_context(mock.patch.object(DynamoDBBackend, name, atomic(getattr(DynamoDBBackend, name))))
        yield


@contextlib.contextmanager
def local_cloud(on_invoke=None) -> Iterator[ExecutionEnvironments]:
    """moto with the Step Functions interpreter on, real Lambda handlers (yielded: their execution
    environments), the shims above, and the interpreter's per-execution set-up done once
    (`moto_fastpath`).

    Order matters: the fast path is entered after the Distributed Map shim (so it caches what that
    shim's parser returns) and before the definite-path shim (which binds the JSONPath compiler
    the fast path caches)."""
    from moto import mock_aws

    with mock_aws(config=MOTO_CONFIG), route_lambda_invocations(on_invoke) as environments, \
            sdk_copy_source_as_in_aws(), s3_key_length_as_in_aws(), jsonata_in_python(), distributed_map_as_in_aws(), \
            interpreter_fast_path(), definite_paths_as_in_aws(), dynamodb_writes_atomic():
        yield environments
