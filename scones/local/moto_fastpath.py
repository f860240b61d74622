"""Work moto's Step Functions interpreter repeats for every execution, done once (same behaviour).

Profiling the local runtime (`make profile`: py-spy over `scones bench-workflow`) showed most of its CPU going not
to the workflow's work but to set-up moto's interpreter redoes for every execution and state:

1. It parses the state machine definition (ANTLR) again for every execution: ~70 ms of CPU, a
   fifth of the run. `parse_each_definition_once()` keeps the parsed program per definition
   text. The program is a tree of immutable components: an execution keeps its state in its
   own `Environment` (retry counters live in `env.heap` under a key each component draws once;
   the keys are drawn before the tree is shared, so concurrent executions never race for them).
2. It creates a new boto3 client for every service integration call (the Lambda invoke, the
   DynamoDB claim, the SQS send, the EventBridge put): loading the service model and endpoint
   rules each time, ~15 ms of CPU per task. `one_client_per_service()` reuses one client per
   (service, region, endpoint), created under a lock (boto3's default session is not safe to
   create clients from in parallel). The clients are configured exactly as moto creates them.
3. It compiles every JSONPath expression (a PLY lexer and parser built from the grammar) at each
   use, and so does moto's EventBridge for every event it delivers to a target without an input
   transformer (eight paths). `compile_each_json_path_once()` keeps the compiled expression per
   path text (compiled expressions hold no state; `find` and `update` take the data as an argument).

Every call still goes through boto3 and moto's request/response handling, so what the
interpreter sends, what IAM enforcement checks and what moto records are unchanged.
"""
from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any, Iterator
from unittest import mock

_lock = threading.Lock()


def _draw_heap_keys(component: Any, seen: set[int]) -> None:
    """Touch `heap_key` on every evaluation component of a parsed program (see point 1)."""
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    stack = [component]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, EvalComponent):
            item.heap_key  # noqa: B018 - drawn now, before the program is shared between threads
        if isinstance(item, Component):
            stack.extend(vars(item).values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())


@contextlib.contextmanager
def parse_each_definition_once() -> Iterator[None]:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    original = AmazonStateLanguageParser.parse
    parsed: dict[str, tuple[Any, Any]] = {}

    def parse(definition: str):
        found = parsed.get(definition)
        if found is None:
            found = original(definition)  # a syntax error raises, and nothing is kept
            _draw_heap_keys(found[0], set())
            with _lock:
                found = parsed.setdefault(definition, found)
        return found

    with mock.patch.object(AmazonStateLanguageParser, "parse", staticmethod(parse)):
        yield


class _CachingBoto3:
    """Stands in for the `boto3` module inside moto's `boto_client_for`: `client()` reuses clients."""

    def __init__(self, boto3_module: Any) -> None:
        self._boto3 = boto3_module
        self._clients: dict[tuple, Any] = {}

    def client(self, *, service_name: str, region_name: str, config: Any, endpoint_url: str | None = None,
               **credentials: Any) -> Any:
        key = (service_name, region_name, endpoint_url, tuple(sorted(credentials.items())))
        client = self._clients.get(key)
        if client is None:
            with _lock:
                client = self._clients.get(key)
                if client is None:
                    extra = {"endpoint_url": endpoint_url} if endpoint_url else {}
                    client = self._boto3.client(service_name=service_name, region_name=region_name, config=config,
                                                **extra, **credentials)
                    self._clients[key] = client
        return client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._boto3, name)


@contextlib.contextmanager
def one_client_per_service() -> Iterator[None]:
    import boto3
    from moto.stepfunctions.parser.asl.utils import boto_client

    with mock.patch.object(boto_client, "boto3", _CachingBoto3(boto3)):
        yield


@contextlib.contextmanager
def compile_each_json_path_once() -> Iterator[None]:
    import jsonpath_ng
    import jsonpath_ng.ext
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    extended = functools.lru_cache(maxsize=4096)(jsonpath_ng.ext.parse)
    with mock.patch.object(json_path, "parse", extended), mock.patch.object(jsonpath_ng.ext, "parse", extended), \
            mock.patch.object(result_path, "parse", functools.lru_cache(maxsize=4096)(jsonpath_ng.parse)):
        yield


@contextlib.contextmanager
def interpreter_fast_path() -> Iterator[None]:
    """All of the above while active."""
    with parse_each_definition_once(), one_client_per_service(), compile_each_json_path_once():
        yield
