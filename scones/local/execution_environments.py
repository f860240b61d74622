"""Lambda execution environments in one process: several per function, each with its own state.

AWS runs a function's concurrent invocations in separate execution environments, each serving
one invocation at a time and keeping its own module state between invocations. The local runtime
calls the real handlers in-process from moto's Step Functions threads, so without this module
every concurrent invocation would share one copy of that state. The state that matters is
Powertools': `Metrics` keeps its metric, dimension and metadata sets in class attributes shared
by every instance in the process (so a function's flush would publish, or clear, another
invocation's metrics: "Must contain at least one metric"), and a `Logger`'s formatter keeps the
appended keys (correlation id, Lambda context) in one dict per service.

`ExecutionEnvironments` plays Lambda's scaling: an invocation takes an idle environment of its
function or, when all are busy, a new one (as Lambda scales out), and holds it until it returns.
While active, `per_environment_powertools()` gives each environment its own copy of that state:
the attributes become per-environment on the classes themselves (data descriptors take
precedence over instance attributes), so instances created before it was installed are isolated
too. An environment starts from the state the module's import left (its Init phase); code
outside any invocation (imports, tests, the harness) sees the instances' own attributes.

Module objects and what else they hold (cached boto3 clients, which are thread-safe; settings read
from the environment) stay shared: the same handler code serves every environment.
"""
from __future__ import annotations

import contextlib
import copy
import threading
from contextvars import ContextVar
from typing import Any, Iterator

# (function name, environment number) of the invocation running in this thread; None outside one.
CURRENT_ENVIRONMENT: ContextVar[tuple[str, int] | None] = ContextVar("scones_execution_environment", default=None)

_METRICS_STATE = ("metric_set", "dimension_set", "metadata_set", "default_dimensions")
_LOGGER_STATE = ("log_format",)


class ExecutionEnvironments:
    """Environments per function: idle ones are reused, a busy function gets a new one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[str, list[int]] = {}
        self.created: dict[str, int] = {}  # function -> environments created so far

    @contextlib.contextmanager
    def invocation(self, function_name: str) -> Iterator[tuple[str, int]]:
        """Run one invocation in an environment of `function_name` that serves nothing else meanwhile."""
        with self._lock:
            idle = self._idle.setdefault(function_name, [])
            if idle:
                number = idle.pop()
            else:
                number = self.created.get(function_name, 0)
                self.created[function_name] = number + 1
        environment = (function_name, number)
        token = CURRENT_ENVIRONMENT.set(environment)
        try:
            yield environment
        finally:
            CURRENT_ENVIRONMENT.reset(token)
            with self._lock:
                self._idle[function_name].append(number)


class _PerEnvironment:
    """A data descriptor: `instance.<name>` has one value per execution environment.

    Outside any invocation it is the instance's own attribute; an environment's first access
    copies that value (what the module's import left), later assignments replace its own."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.slot = f"_per_environment_{name}"

    def _values(self, instance: Any) -> dict:
        values = instance.__dict__.get(self.slot)
        if values is None:
            values = instance.__dict__.setdefault(self.slot, {})
        return values

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        environment = CURRENT_ENVIRONMENT.get()
        if environment is None:
            return instance.__dict__[self.name]
        values = self._values(instance)
        if environment not in values:
            values[environment] = copy.copy(instance.__dict__.get(self.name))
        return values[environment]

    def __set__(self, instance: Any, value: Any) -> None:
        environment = CURRENT_ENVIRONMENT.get()
        if environment is None:
            instance.__dict__[self.name] = value
        else:
            self._values(instance)[environment] = value


@contextlib.contextmanager
def per_environment_powertools() -> Iterator[None]:
    """Powertools' metric sets and logger keys per execution environment while active."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    patched = [(AmazonCloudWatchEMFProvider, name) for name in _METRICS_STATE] + \
              [(LambdaPowertoolsFormatter, name) for name in _LOGGER_STATE]
    with contextlib.ExitStack() as stack:
        for cls, name in patched:
            if isinstance(vars(cls).get(name), _PerEnvironment):
                continue  # already active (a nested local cloud): the outer activation removes it
            if name in vars(cls):  # a class attribute of that name would be shadowed: refuse to guess
                raise RuntimeError(f"{cls.__name__}.{name} is a class attribute; Powertools changed")
            setattr(cls, name, _PerEnvironment(name))
            stack.callback(delattr, cls, name)
        yield
