"""scones_contracts runs on the standard library alone (it is bundled as-is into every asset)."""
from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import scones_contracts

ROOT = Path(__file__).resolve().parents[2]

CHECK = r"""
import importlib, json, pkgutil, sys
sys.path[:] = [p for p in sys.path if 'site-packages' not in p and 'dist-packages' not in p]
sys.path.insert(0, sys.argv[1])
import scones_contracts
names = sorted(m.name for m in pkgutil.iter_modules(scones_contracts.__path__))
for name in names:
    importlib.import_module(f"scones_contracts.{name}")
stdlib = set(sys.stdlib_module_names)
outside = sorted({m.split('.')[0] for m in sys.modules} - stdlib - {'scones_contracts', '__main__'})
print(json.dumps({"modules": names, "outside_stdlib": outside}))
"""


def test_every_module_imports_without_site_packages():
    proc = subprocess.run([sys.executable, "-S", "-s", "-c", CHECK, str(ROOT)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["outside_stdlib"] == []
    assert out["modules"] == sorted(m.name for m in pkgutil.iter_modules(scones_contracts.__path__))
    assert {"baseline", "capture", "decision", "env", "tarball"} <= set(out["modules"])


def test_the_package_docstring_maps_every_module():
    documented = scones_contracts.__doc__
    for module in pkgutil.iter_modules(scones_contracts.__path__):
        assert f"\n    {module.name} " in documented, f"{module.name} is missing from the package map"
