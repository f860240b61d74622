"""The demo's report folder: outcomes, summary, plots, and the drift section on the captured traffic."""
from __future__ import annotations

import json
from pathlib import Path

from scones_contracts.classes import CLASS_NAMES

from .runtime import Outcome


def write_report(report_dir: Path, outcomes: list[Outcome], summary: dict, labels: dict[str, str],
                 model: Path, images_root: Path) -> dict:
    from training.plots import plot_confidence_histogram, plot_confusion_matrix

    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "outcomes.jsonl").write_text("".join(o.json_line() + "\n" for o in outcomes), encoding="utf-8")
    names = list(CLASS_NAMES)
    matrix = [[0] * len(names) for _ in names]
    known = 0
    prefix_len = len("incoming/")
    for outcome in outcomes:
        truth = labels.get(outcome.key[prefix_len:])
        if truth and outcome.label in names and outcome.decided_by != "reviewer":  # the model's own answers
            matrix[names.index(truth)][names.index(outcome.label)] += 1
            known += 1
    confidences = [o.confidence for o in outcomes if o.confidence is not None]
    plots = {}
    if known:
        plots["confusion_matrix"] = str(plot_confusion_matrix(matrix, names, report_dir / "confusion_matrix.png"))
    if confidences:
        plots["confidence_histogram"] = str(plot_confidence_histogram(
            confidences, report_dir / "confidence_histogram.png", threshold=summary.get("threshold")))
    summary = {**summary, "confusion": {"labels": names, "matrix": matrix, "n": known},
               "accuracy_on_labelled": round(sum(matrix[i][i] for i in range(2)) / known, 4) if known else None,
               "plots": plots,
               "drift": _drift_section(summary.get("capture_dir"), model, report_dir, summary["threshold"])}
    (report_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _drift_section(capture_dir: str | None, model: Path, report_dir: Path, threshold: float) -> dict:
    """The same analyzer as `scones capture-report`, on what the local endpoint captured, judged at the
    threshold the workflow routed at (as the drift check in AWS is, from its THRESHOLD)."""
    if not capture_dir or not Path(capture_dir).exists():
        return {"computed": False, "reason": "no captured traffic"}
    import contextlib
    import io

    from scones import capture_report

    out = io.StringIO()
    argv = ["--capture", capture_dir, "--baseline", str(model), "--threshold", str(threshold), "--json",
            "--plots", str(report_dir / "drift")]
    parser = __import__("argparse").ArgumentParser()
    capture_report.register(parser.add_subparsers())
    args = parser.parse_args(["capture-report", *argv])
    with contextlib.redirect_stdout(out):
        args.func(args)
    return json.loads(out.getvalue().strip().splitlines()[-1])
