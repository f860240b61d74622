"""app_builder: the whole app's templates pass cfn-lint (with a negative control)."""
import json
import subprocess
import sys
from pathlib import Path


def _cfn_lint(files: list[str]) -> tuple[int, list[dict]]:
    executable = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(executable), "--format", "json", *files], capture_output=True, text=True)
    assert result.stdout.strip(), f"cfn-lint printed nothing (exit {result.returncode}): {result.stderr[-2000:]}"
    return result.returncode, json.loads(result.stdout)


def test_cfn_lint_reports_no_errors(assembly):
    files = sorted(str(p) for p in Path(assembly.outdir).glob("*.template.json"))
    assert len(files) == len(assembly.templates) >= 4
    code, findings = _cfn_lint(files)
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == [], json.dumps(errors, indent=1)[:3000]
    assert code & 2 == 0  # cfn-lint's exit bit for errors


def test_cfn_lint_really_reports_errors(tmp_path):
    broken = tmp_path / "broken.template.json"
    broken.write_text(json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue",
                                                          "Properties": {"VisibilityTimeout": "soon"}}}}))
    code, findings = _cfn_lint([str(broken)])
    assert code & 2 and any(f["Level"] == "Error" for f in findings)
