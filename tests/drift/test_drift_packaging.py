"""The Lambda package: stdlib-only core, importable as `drift` the way it is deployed."""
from __future__ import annotations

import json
import subprocess
import sys

CORE_CHECK = r"""
import json, sys
sys.path[:] = [p for p in sys.path if 'site-packages' not in p and 'dist-packages' not in p]
sys.path.insert(0, sys.argv[1])
import drift, drift.capture, drift.drift, drift.s3source
result = drift.parse_paths(sys.argv[2])
report = drift.build_report(result.records, result.bad)
third_party = sorted(m for m in sys.modules if m.split('.')[0] in {'numpy', 'boto3', 'botocore', 'aws_lambda_powertools'})
print(json.dumps({"records": report["records"], "third_party": third_party, "handler_loaded": "drift.handler" in sys.modules}))
"""


def test_core_runs_on_the_standard_library_alone(lib):
    proc = subprocess.run([sys.executable, "-S", "-c", CORE_CHECK, str(lib.ROOT / "lambdas"), str(lib.REAL_CAPTURE)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"records": len(lib.raw_capture_lines(lib.REAL_CAPTURE)), "third_party": [],
                   "handler_loaded": False}


def test_handler_imports_as_deployed(lib):
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import drift.handler as h; "
            "print(h.handler.__module__, callable(h.handler))")
    proc = subprocess.run([sys.executable, "-c", code, str(lib.ROOT / "lambdas")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["drift.handler", "True"]
