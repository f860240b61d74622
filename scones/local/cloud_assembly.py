"""Synthesize the CDK app in-process and read its templates: the single source of the local resources."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App

from stacks.app_builder import SconesApp, build_app
from stacks.config import SconesConfig


@dataclass
class Assembly:
    config: SconesConfig
    templates: dict[str, dict[str, Any]]  # stack name -> CloudFormation template
    outdir: Path

    def only(self, suffixes: tuple[str, ...]) -> "Assembly":
        """The same assembly restricted to the stacks whose names end with one of `suffixes`."""
        templates = {name: t for name, t in self.templates.items() if name.endswith(suffixes)}
        missing = [s for s in suffixes if not any(name.endswith(s) for name in templates)]
        if missing:
            raise KeyError(f"no stack ending in {missing} among {list(self.templates)}")
        return Assembly(config=self.config, templates=templates, outdir=self.outdir)

    def resources(self, resource_type: str) -> dict[str, tuple[str, dict[str, Any]]]:
        """logical id -> (stack name, resource) for every resource of a type, across stacks."""
        found = {}
        for stack, template in self.templates.items():
            for logical_id, resource in template.get("Resources", {}).items():
                if resource["Type"] == resource_type:
                    found[logical_id] = (stack, resource)
        return found


def synthesize(outdir: Path, context: dict[str, Any] | None = None) -> Assembly:
    """Synthesize every stack (with cdk-nag on, as `cdk synth` does) into `outdir`."""
    app = App(outdir=str(outdir), context=context or {})
    built: SconesApp = build_app(app)
    assembly = app.synth()
    templates = {stack.stack_name: stack.template for stack in assembly.stacks}
    return Assembly(config=built.config, templates=templates, outdir=Path(outdir))


def load(outdir: Path, config: SconesConfig | None = None) -> Assembly:
    """Read templates that `cdk synth` already wrote into `outdir`."""
    manifest = json.loads((Path(outdir) / "manifest.json").read_text())
    templates = {}
    for artifact in manifest["artifacts"].values():
        if artifact.get("type") == "aws:cloudformation:stack":
            name = artifact.get("displayName") or artifact["properties"]["templateFile"].split(".")[0]
            templates[name] = json.loads((Path(outdir) / artifact["properties"]["templateFile"]).read_text())
    return Assembly(config=config or SconesConfig(), templates=templates, outdir=Path(outdir))
