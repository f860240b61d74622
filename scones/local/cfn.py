"""A small CloudFormation intrinsic-function resolver for the resources the local runtime creates.

It knows the physical names/ARNs of what `LocalAws` created (by logical id) and resolves Ref,
Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split, Fn::ImportValue (of the exports registered
with `register_export`), Fn::FindInMap (of the mappings registered with `register_mappings`) and
pseudo parameters. Anything it cannot resolve raises, naming the expression, rather than guessing.
Resources that have no local counterpart on purpose (`register_absent`: the reviewer pool, the HTTP
API) resolve to nothing: a value built from one (an environment variable, a joined URL) becomes the
empty string.
"""
from __future__ import annotations

import re
from typing import Any


class UnresolvableError(ValueError):
    pass


class _Absent(Exception):
    """A reference to a resource not created locally (caught by the value that contains it)."""


class Resolver:
    def __init__(self, account: str, region: str, partition: str = "aws") -> None:
        self.pseudo = {
            "AWS::AccountId": account, "AWS::Region": region, "AWS::Partition": partition,
            "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None, "AWS::StackName": "local",
        }
        self.refs: dict[str, Any] = {}
        self.attributes: dict[tuple[str, str], Any] = {}
        self.exports: dict[str, Any] = {}  # export name -> its (unresolved) value
        self.mappings: dict[str, Any] = {}  # a template's Mappings
        self.absent: set[str] = set()

    def register_absent(self, logical_id: str) -> None:
        """`logical_id` exists in the template but not locally: values built from it resolve to ''."""
        self.absent.add(logical_id)

    def register(self, logical_id: str, ref: Any, **attributes: Any) -> None:
        self.refs[logical_id] = ref
        for name, value in attributes.items():
            self.attributes[(logical_id, name)] = value

    def register_export(self, name: str, value: Any) -> None:
        """A stack output's `Export` (resolved when imported, with this resolver's registrations)."""
        self.exports[name] = value

    def register_mappings(self, mappings: dict[str, Any]) -> None:
        for name, table in mappings.items():
            if self.mappings.setdefault(name, table) != table:
                raise UnresolvableError(f"two templates define mapping {name} differently")

    def resolve(self, value: Any) -> Any:
        try:
            return self._resolve(value)
        except _Absent:
            return ""

    def _contained(self, value: Any) -> Any:
        try:
            return self._resolve(value)
        except _Absent:
            return ""

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._contained(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref":
                return self._ref(arg)
            if fn == "Fn::GetAtt":
                logical_id, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                if logical_id in self.absent:
                    raise _Absent(logical_id)
                if (logical_id, attr) not in self.attributes:
                    raise UnresolvableError(f"Fn::GetAtt {logical_id}.{attr}: not created locally")
                return self.attributes[(logical_id, attr)]
            if fn == "Fn::Join":  # a part built from an absent resource makes the whole text absent
                sep, parts = arg
                items = [self._resolve(p) for p in parts] if isinstance(parts, list) else self._resolve(parts)
                return sep.join(str(p) for p in items)
            if fn == "Fn::ImportValue":
                name = self.resolve(arg)
                if name not in self.exports:
                    raise UnresolvableError(f"Fn::ImportValue {name}: no stack exports it")
                return self.resolve(self.exports[name])
            if fn == "Fn::FindInMap":
                name, top, second = (self.resolve(part) for part in arg[:3])
                try:
                    return self.resolve(self.mappings[name][top][second])
                except KeyError:
                    raise UnresolvableError(f"Fn::FindInMap {name}.{top}.{second}: not in the mappings") from None
            if fn == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if fn == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if fn == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                variables = {k: self.resolve(v) for k, v in variables.items()}
                return re.sub(r"\$\{([^}!]+)\}", lambda m: str(self._sub(m.group(1), variables)), text)
            if fn.startswith("Fn::"):
                raise UnresolvableError(f"{fn} is not supported by the local resolver")
        return {k: self._contained(v) for k, v in value.items()}

    def _ref(self, name: str) -> Any:
        if name in self.absent:
            raise _Absent(name)
        if name in self.pseudo:
            return self.pseudo[name]
        if name not in self.refs:
            raise UnresolvableError(f"Ref {name}: not created locally")
        return self.refs[name]

    def _sub(self, name: str, variables: dict[str, Any]) -> Any:
        if name in variables:
            return variables[name]
        if "." in name:
            logical_id, attr = name.split(".", 1)
            return self.resolve({"Fn::GetAtt": [logical_id, attr]})
        return self._ref(name)
