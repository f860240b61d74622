"""A small CloudFormation intrinsic-function resolver for the resources the local runtime creates.

It knows the physical names/ARNs of what `LocalAws` created (by logical id) and resolves Ref,
Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split and pseudo parameters. Anything it cannot
resolve raises, naming the expression, rather than guessing.
"""
from __future__ import annotations

import re
from typing import Any


class UnresolvableError(ValueError):
    pass


class Resolver:
    def __init__(self, account: str, region: str, partition: str = "aws") -> None:
        self.pseudo = {
            "AWS::AccountId": account, "AWS::Region": region, "AWS::Partition": partition,
            "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None, "AWS::StackName": "local",
        }
        self.refs: dict[str, Any] = {}
        self.attributes: dict[tuple[str, str], Any] = {}

    def register(self, logical_id: str, ref: Any, **attributes: Any) -> None:
        self.refs[logical_id] = ref
        for name, value in attributes.items():
            self.attributes[(logical_id, name)] = value

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref":
                return self._ref(arg)
            if fn == "Fn::GetAtt":
                logical_id, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                if (logical_id, attr) not in self.attributes:
                    raise UnresolvableError(f"Fn::GetAtt {logical_id}.{attr}: not created locally")
                return self.attributes[(logical_id, attr)]
            if fn == "Fn::Join":
                sep, parts = arg
                return sep.join(str(p) for p in self.resolve(parts))
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
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> Any:
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
