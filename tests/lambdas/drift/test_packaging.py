"""The drift core runs on the standard library alone (the handler adds boto3; nothing else is needed)."""
from __future__ import annotations

import json
import subprocess
import sys

CORE_CHECK = r"""
import json, sys
sys.path[:] = [p for p in sys.path if 'site-packages' not in p and 'dist-packages' not in p]
sys.path.insert(0, sys.argv[1])
from lambdas.drift import capture, report, s3_capture, settings, statistics
result = capture.parse_paths(sys.argv[2])
built = report.build_report(result.records, result.bad)
outside = sorted({m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names)
                 - {'lambdas', 'scones_contracts', '__main__'})
print(json.dumps({"records": built["records"], "outside_stdlib": outside,
                  "handler_loaded": "lambdas.drift.handler" in sys.modules}))
"""


def test_core_runs_on_the_standard_library_alone(lib):
    proc = subprocess.run([sys.executable, "-S", "-s", "-c", CORE_CHECK, str(lib.ROOT), str(lib.REAL_CAPTURE)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"records": len(lib.raw_capture_lines(lib.REAL_CAPTURE)), "outside_stdlib": [],
                   "handler_loaded": False}
