"""One configuration path: the routing threshold is changed once (`scones -c confidence_threshold=...`,
as `cdk synth -c` takes it) and every consumer sees it: the routing decision, the demo report and
its drift section, `scones evaluate`, and the training (local run and the SageMaker job's flags)."""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

from stacks.config import load_config
from stacks.job_identity import sagemaker_hyperparameters

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "cifar100-bicycle-motorcycle"
THRESHOLD = 0.8  # the default is 0.93: every consumer below must say 0.8
OVERRIDE = ["-c", f"confidence_threshold={THRESHOLD}"]


def scones(*argv: str) -> subprocess.CompletedProcess:
    # no stdin, as in CI: the demo must not wait for a reviewer there
    result = subprocess.run([sys.executable, "-m", "scones.cli", *OVERRIDE, *argv], cwd=ROOT, capture_output=True,
                            text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_the_threshold_changed_once_reaches_every_consumer(tiny_model_path, tmp_path):
    assert load_config().decision.threshold != THRESHOLD, "the override must differ from the configured value"

    # Routing and the demo report: the synthesized workflow decides at the override...
    report_dir = tmp_path / "demo"
    demo = scones("demo", "--model", str(tiny_model_path), "--per-class", "4", "--concurrency", "4",
                  "--report-dir", str(report_dir))
    summary = json.loads((report_dir / "summary.json").read_text())
    assert summary["threshold"] == THRESHOLD
    template = json.loads((report_dir / "work" / "cdk.out" / "SconesWorkflow.template.json").read_text())
    environments = [r["Properties"]["Environment"]["Variables"] for r in template["Resources"].values()
                    if r["Type"] == "AWS::Lambda::Function" and "THRESHOLD" in r["Properties"]["Environment"]["Variables"]]
    assert environments and {env["THRESHOLD"] for env in environments} == {str(THRESHOLD)}
    outcomes = [json.loads(line) for line in (report_dir / "outcomes.jsonl").read_text().splitlines()]
    routed = [o for o in outcomes if o["outcome"] == "routed"]
    review = [o for o in outcomes if o["outcome"] == "review"]
    assert routed and all(o["confidence"] >= THRESHOLD for o in routed)
    assert all(o["confidence"] < THRESHOLD for o in review)
    # Without a terminal the demo does not wait for a reviewer; it ends by pointing at the console.
    assert review, "the tiny model is unsure of some demo images"
    assert f"{len(review)} low-confidence image(s) wait for a reviewer (no terminal here" in demo.stdout
    assert "--review-port" in demo.stdout.strip().splitlines()[-1]
    # ...and its drift section judges the captured traffic at the same threshold: the low-confidence
    # records are exactly the images sent to review.
    drift = summary["drift"]
    assert drift["threshold"] == THRESHOLD
    assert drift["records"] == len(routed) + len(review)
    assert drift["low_confidence_records"] == len(review)

    # scones evaluate
    evaluation = last_json(scones("evaluate", "--model", str(tiny_model_path), "--data", str(SAMPLE), "--json").stdout)
    assert evaluation["threshold"] == THRESHOLD

    # Training: a local run records the threshold in metadata.json and baseline.json...
    scones("train", "--data", str(SAMPLE), "--model-dir", str(tmp_path / "model"), "--steps", "2", "--width", "4",
           "--batch-size", "16", "--threads", "1")
    with tarfile.open(tmp_path / "model" / "model.tar.gz", "r:gz") as archive:
        metadata = json.load(archive.extractfile("metadata.json"))
        baseline = json.load(archive.extractfile("baseline.json"))
    assert metadata["threshold"] == THRESHOLD and metadata["validation"]["threshold"] == THRESHOLD
    assert baseline["threshold"] == THRESHOLD
    # ...and so does the SageMaker job, started with the same flag by the model stack.
    assert sagemaker_hyperparameters(load_config({"confidence_threshold": str(THRESHOLD)}))["confidence-threshold"] \
        == THRESHOLD
