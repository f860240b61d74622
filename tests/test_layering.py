"""Layering, from the imports themselves (`ast`; lazy imports inside functions count too).

    lambdas/, training/     never import stacks/
    lambdas/                never import training/, scones/ or torch (a Lambda asset holds none of them)
    stacks/                 never imports torch, training/ or lambdas/ (what it needs from them is a
                            contract in scones_contracts)
    scones_contracts/       imports only the standard library
    scones_imaging/         imports only the standard library, Pillow and scones_contracts (torch-free:
                            the serialize asset and the SageMaker source directory both hold it)
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
RULES = {
    "lambdas": {"forbidden": {"stacks", "training", "scones", "torch"}},
    "training": {"forbidden": {"stacks"}},
    "stacks": {"forbidden": {"torch", "training", "lambdas"}},
    "scones_contracts": {"allowed": STDLIB | {"scones_contracts"}},
    "scones_imaging": {"allowed": STDLIB | {"PIL", "scones_contracts", "scones_imaging"}},
}


def imported_packages(path: Path) -> dict[str, int]:
    """Top-level package of every import in `path` -> the first line importing it (relative imports resolved)."""
    package_parts = list(path.relative_to(ROOT).parts[:-1])  # what a level-1 relative import names
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - (node.level - 1)]
                names = ([".".join([*base, node.module])] if node.module
                         else [".".join([*base, alias.name]) for alias in node.names])
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            found.setdefault(name.split(".")[0], node.lineno)
    return found


def sources(package: str) -> list[Path]:
    files = sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)
    assert files, f"no sources under {package}/"
    return files


@pytest.mark.parametrize("package", sorted(RULES))
def test_layering(package):
    rule = RULES[package]
    violations = []
    for path in sources(package):
        for imported, line in imported_packages(path).items():
            if imported in rule.get("forbidden", ()) or ("allowed" in rule and imported not in rule["allowed"]):
                violations.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert violations == []


def test_the_walk_sees_relative_lazy_and_aliased_imports(tmp_path, monkeypatch):
    """A negative control: the rules above can fail."""
    package = tmp_path / "stacks"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bad.py").write_text("import os as o\nfrom .. import lambdas\n\ndef later():\n"
                                    "    import torch.nn\n    from training import imaging\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert imported_packages(package / "bad.py") == {"os": 1, "lambdas": 2, "torch": 5, "training": 6}
    with pytest.raises(AssertionError):
        test_layering("stacks")
