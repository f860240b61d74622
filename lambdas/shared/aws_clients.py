"""boto3 clients, created on first use and reused by every invocation of a warm function.

A client is cached per service and botocore configuration. `install(service, client)` makes every
later `client(service, ...)` call return the given client (a botocore Stubber'd or otherwise
prepared one) and `reset_clients()` drops them all: tests and the local runtime (which moves
endpoints between runs) use these two seams instead of reaching into the cache.
"""
from __future__ import annotations

import json
import threading
from typing import Any

import boto3
from botocore.config import Config

_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}
_installed: dict[str, Any] = {}


def client(service_name: str, **config: Any) -> Any:
    """The cached client of `service_name` for botocore `Config(**config)`.

    Endpoint overrides (AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL) are read by boto3 itself
    when the client is created.
    """
    key = (service_name, json.dumps(config, sort_keys=True, default=str))
    with _lock:  # boto3's default session is not safe to create clients from concurrently
        if service_name in _installed:
            return _installed[service_name]
        if key not in _clients:
            _clients[key] = boto3.client(service_name, config=Config(**config) if config else None)
        return _clients[key]


def install(service_name: str, replacement: Any) -> None:
    """Serve `replacement` for every `client(service_name, ...)` until `reset_clients()`."""
    with _lock:
        _installed[service_name] = replacement


def reset_clients() -> None:
    """Forget every cached and installed client (the next call creates a fresh one)."""
    with _lock:
        _clients.clear()
        _installed.clear()
