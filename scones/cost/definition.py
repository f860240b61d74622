"""Walk an Amazon States Language definition: every path from StartAt to an end, per outcome.

Contract
    `parse_definition(value)` takes a state machine's `DefinitionString` as synthesized (a string,
    or CloudFormation `Fn::Join`/`Fn::Sub` with tokens) and returns the definition as a dict; a
    token becomes a placeholder `${Ref:Id}` / `${GetAtt:Id.Attr}` so resources stay identifiable.

    `walk(definition)` returns every path (a sequence of `Step`s) from `StartAt` to a terminal
    state, following `Next`, every `Choice` branch and `Default`, and every `Catch`. A path's
    outcome is the `outcome` literal its last state sets (a Pass/Succeed `Parameters`, `Result`,
    `Arguments` or `Output` with an `"outcome"` key), "failed" when it ends in a `Fail` state, and
    otherwise the last state's name.

    Billing rule (AWS Step Functions pricing page): "a state transition each time a step of your
    workflow is executed ... including retries". A step entered once counts 1; a Task left through
    its `Catch` counts, at worst, 1 + the largest `MaxAttempts` of its `Retry` (default 3), so a
    path's `transitions` is its worst case and `min_transitions` its best (no retry).

    `Parallel` runs every branch: its step carries each branch's longest path. `Map` carries its
    item processor (`ItemProcessor` or `Iterator`) walked the same way, and whether it is a
    Distributed Map (`ProcessorConfig.Mode == "DISTRIBUTED"`) with its child execution type.
    A loop (a state reached again on the same path) is cut after one pass and flagged.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MAX_ATTEMPTS = 3  # ASL: a retrier without MaxAttempts retries 3 times
_TOKEN = re.compile(r"\$\{(Ref|GetAtt):([^}]+)\}")


class DefinitionError(ValueError):
    """The definition is not a state machine this walker understands (named in the message)."""


def render_token(value: Any) -> str:
    """A CloudFormation value inside a definition string, as text with token placeholders."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Ref":
            return "${Ref:%s}" % arg
        if fn == "Fn::GetAtt":
            return "${GetAtt:%s}" % (".".join(arg) if isinstance(arg, list) else arg)
        if fn == "Fn::Join":
            separator, parts = arg
            return separator.join(render_token(part) for part in parts)
        if fn == "Fn::Sub":
            text = arg if isinstance(arg, str) else arg[0]
            return re.sub(r"\$\{([^}!]+)\}", lambda m: ("${GetAtt:%s}" if "." in m.group(1) else "${Ref:%s}")
                          % m.group(1), text)
    raise DefinitionError(f"cannot render CloudFormation value {json.dumps(value)[:120]} in a definition")


def parse_definition(value: Any) -> dict[str, Any]:
    """`DefinitionString` (or an already-parsed `Definition` object) -> the ASL document."""
    if isinstance(value, dict) and "States" in value:
        return value
    text = render_token(value)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DefinitionError(f"definition is not JSON after resolving tokens: {exc}") from None
    if "StartAt" not in document or "States" not in document:
        raise DefinitionError("definition has no StartAt/States")
    return document


def token_target(text: str | None) -> str | None:
    """The logical id a `${Ref:Id}` / `${GetAtt:Id.Arn}` placeholder points at (first one), if any."""
    match = _TOKEN.search(text or "")
    return match.group(2).split(".")[0] if match else None


@dataclass(frozen=True)
class Step:
    """One state executed on a path. `attempts` > 1 means the state was retried (worst case)."""

    name: str
    type: str
    resource: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    attempts: int = 1
    failed: bool = False  # left through a Catch
    branches: tuple["Path", ...] = ()  # Parallel: the longest path of each branch
    item_paths: tuple["Path", ...] = ()  # Map: every path of the item processor
    distributed: bool = False  # Distributed Map (child executions per item)
    child_execution_type: str | None = None  # Distributed Map: STANDARD or EXPRESS

    @property
    def transitions(self) -> int:
        """What this step adds to its own execution (a Distributed Map's items are child executions)."""
        inner = sum(branch.transitions for branch in self.branches)
        if self.item_paths and not self.distributed:
            inner += max(path.transitions for path in self.item_paths)  # one item (count unknown)
        return self.attempts + inner


@dataclass(frozen=True)
class Path:
    outcome: str
    steps: tuple[Step, ...]
    has_loop: bool = False

    @property
    def transitions(self) -> int:
        return sum(step.transitions for step in self.steps)

    @property
    def min_transitions(self) -> int:
        return sum(1 + sum(b.min_transitions for b in s.branches) for s in self.steps)

    @property
    def state_names(self) -> list[str]:
        return [step.name for step in self.steps]


def _outcome(state: dict[str, Any], name: str) -> str:
    if state["Type"] == "Fail":
        return "failed"
    for key in ("Parameters", "Result", "Arguments", "Output"):
        block = state.get(key)
        if isinstance(block, dict) and isinstance(block.get("outcome"), str):
            return block["outcome"]
    return name


def _max_attempts(state: dict[str, Any]) -> int:
    retries = [int(r.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS)) for r in state.get("Retry", [])]
    return 1 + max(retries, default=0)


def _edges(state: dict[str, Any]) -> list[tuple[str, bool]]:
    """(next state, through Catch?) for every way out of a state; [] for a terminal state."""
    kind = state["Type"]
    if kind in ("Succeed", "Fail"):
        return []
    out: list[tuple[str, bool]] = []
    if kind == "Choice":
        out += [(choice["Next"], False) for choice in state.get("Choices", [])]
        if "Default" in state:
            out.append((state["Default"], False))
    elif not state.get("End"):
        if "Next" not in state:
            raise DefinitionError(f"state of type {kind} has neither Next nor End")
        out.append((state["Next"], False))
    out += [(catch["Next"], True) for catch in state.get("Catch", [])]
    return out


def _processor(state: dict[str, Any]) -> tuple[dict[str, Any] | None, bool, str | None]:
    processor = state.get("ItemProcessor") or state.get("Iterator")
    if processor is None:
        return None, False, None
    config = processor.get("ProcessorConfig", {})
    distributed = config.get("Mode") == "DISTRIBUTED"
    return processor, distributed, (config.get("ExecutionType", "STANDARD") if distributed else None)


def _step(name: str, state: dict[str, Any], failed: bool) -> Step:
    branches = tuple(max(walk(branch), key=lambda p: p.transitions) for branch in state.get("Branches", []))
    processor, distributed, child_type = _processor(state)
    return Step(
        name=name, type=state["Type"], resource=state.get("Resource"),
        parameters=state.get("Parameters") or state.get("Arguments") or {},
        attempts=_max_attempts(state) if failed else 1, failed=failed, branches=branches,
        item_paths=tuple(walk(processor)) if processor else (), distributed=distributed,
        child_execution_type=child_type,
    )


def walk(definition: dict[str, Any]) -> list[Path]:
    """Every path from StartAt to a terminal state (see the module docstring)."""
    states = definition["States"]
    start = definition["StartAt"]
    if start not in states:
        raise DefinitionError(f"StartAt {start!r} is not a state")
    paths: list[Path] = []

    def visit(name: str, trail: tuple[Step, ...], seen: frozenset[str]) -> None:
        if name not in states:
            raise DefinitionError(f"a transition goes to {name!r}, which is not a state")
        state = states[name]
        edges = _edges(state)
        if not edges:
            paths.append(Path(_outcome(state, name), trail + (_step(name, state, False),)))
            return
        for target, through_catch in edges:
            step = _step(name, state, through_catch)
            if target in seen:  # a loop: count one pass, flag it
                paths.append(Path(_outcome(state, name), trail + (step,), has_loop=True))
                continue
            visit(target, trail + (step,), seen | {target})

    visit(start, (), frozenset({start}))
    return paths


def paths_by_outcome(paths: list[Path]) -> dict[str, list[Path]]:
    grouped: dict[str, list[Path]] = {}
    for path in paths:
        grouped.setdefault(path.outcome, []).append(path)
    return grouped


def costliest(paths: list[Path]) -> Path:
    """The path with the most transitions (ties: the first); the one an outcome is priced by."""
    return max(paths, key=lambda p: (p.transitions, -paths.index(p)))
