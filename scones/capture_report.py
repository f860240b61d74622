"""`scones capture-report`: summarise SageMaker data capture and compare it with the training baseline.

    scones capture-report --capture DIR_OR_S3_URI [--baseline FILE(.json|model.tar.gz)|S3_URI]
                          [--threshold T] [--since ISO] [--until ISO] [--json] [--plots DIR]

The capture is a local folder (walked recursively for ``*.jsonl``), a single file, or
``s3://bucket/prefix`` (read with boto3, which honours ``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_S3``,
so a local moto server works). Statistics come from `lambdas.drift`, the same code the scheduled
drift Lambda runs. Without ``--json`` a readable summary is printed; with it the last stdout line is
one JSON object (the report). The exit code is 0 whether or not drift is detected (this is a report);
2 for unusable arguments (missing capture folder, unreadable baseline, bad dates or thresholds).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from typing import Any

from lambdas.drift.capture import ParseResult, parse_paths
from lambdas.drift.report import build_report
from lambdas.drift.s3_capture import list_capture_objects, parse_s3_objects, read_s3_bytes
from lambdas.drift.statistics import CONFIDENCE_RANGE, DriftThresholds, bin_edges, histogram
from scones_contracts.baseline import Baseline, BaselineError
from scones_contracts.capture import CaptureFormatError, parse_inference_time
from scones_contracts.classes import CLASS_NAMES, parse_class_names
from scones_contracts.decision import THRESHOLD_RANGE, validate_threshold
from scones_contracts.s3_uri import parse_s3_uri

PROG = "scones capture-report"
PLOT_FILES = {
    "confidence_histogram": "confidence_histogram.png",
    "class_mix": "class_mix_over_time.png",
    "low_confidence": "low_confidence_over_time.png",
}


class UsageError(Exception):
    """An argument that makes the report impossible; printed as one line, exit code 2."""


# --------------------------------------------------------------------------- argument handling


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "capture-report",
        help="summarise SageMaker data capture and detect drift against the training baseline",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--capture", required=True, metavar="DIR_OR_S3_URI",
                        help="capture folder (recursive), .jsonl file, or s3://bucket/prefix")
    parser.add_argument("--baseline", metavar="FILE",
                        help="baseline.json or model.tar.gz holding baseline.json (local path or s3:// URI)")
    parser.add_argument("--threshold", type=float, metavar="T",
                        help=f"low-confidence threshold on the top probability, {THRESHOLD_RANGE} "
                             "(default: the config's decision threshold, as routing and the drift check judge; "
                             "%(default)s)")
    parser.add_argument("--since", metavar="ISO", help="only records with inferenceTime >= this (UTC if no offset)")
    parser.add_argument("--until", metavar="ISO", help="only records with inferenceTime <= this")
    parser.add_argument("--class-names", metavar="A,B",
                        help="class names in output order (default: baseline's, else bicycle,motorcycle)")
    defaults = DriftThresholds()
    parser.add_argument("--psi-threshold", type=float, default=defaults.psi,
                        help="confidence PSI above this is drift (default: the config's drift_psi_alarm_threshold, "
                             "%(default)s)")
    parser.add_argument("--class-mix-threshold", type=float, default=defaults.class_mix_tvd,
                        help="class-mix total variation distance above this is drift (default %(default)s)")
    parser.add_argument("--low-confidence-delta", type=float, default=defaults.low_confidence_delta,
                        help="rise of the low-confidence share above this is drift (default %(default)s)")
    parser.add_argument("--min-records", type=int, default=defaults.min_records,
                        help="never flag drift on fewer valid records (default: the config's drift_min_records, "
                             "%(default)s)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object (last line)")
    parser.add_argument("--plots", metavar="DIR", help="write PNG plots into DIR")
    parser.set_defaults(func=run)


def _parse_time(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_inference_time(value)
    except CaptureFormatError:
        raise UsageError(f"{flag} {value!r} is not an ISO-8601 date/time (e.g. 2024-10-16T09:00:00Z)") from None


def _s3_client():
    import boto3  # only needed for s3:// sources

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    return boto3.client("s3", endpoint_url=endpoint)


def _load_baseline(spec: str | None) -> Baseline | None:
    if not spec:
        return None
    if spec.startswith("s3://"):
        try:
            bucket, key = parse_s3_uri(spec)
            blob = read_s3_bytes(_s3_client(), bucket, key)
        except Exception as err:
            raise UsageError(f"cannot read baseline {spec}: {err}") from None
        try:
            return Baseline.from_bytes(blob, origin=spec)
        except BaselineError as err:
            raise UsageError(f"unusable baseline: {err}") from None
    if not os.path.isfile(spec):
        raise UsageError(f"baseline file not found: {spec}")
    try:
        return Baseline.load(spec)
    except BaselineError as err:
        raise UsageError(f"unusable baseline: {err}") from None


def _read_capture(spec: str, n_classes: int) -> ParseResult:
    if spec.startswith("s3://"):
        try:
            bucket, prefix = parse_s3_uri(spec)
            s3 = _s3_client()
            keys = [o["Key"] for o in list_capture_objects(s3, bucket, prefix)]
        except Exception as err:
            raise UsageError(f"cannot list capture {spec}: {err}") from None
        result = parse_s3_objects(s3, bucket, keys, n_classes=n_classes)
        result.files = len(keys)
        return result
    if not os.path.exists(spec):
        raise UsageError(f"capture folder not found: {spec}")
    return parse_paths(spec, n_classes=n_classes)


def build(args: argparse.Namespace) -> dict[str, Any]:
    """The report for parsed arguments (raises :class:`UsageError`)."""
    if args.threshold is not None:
        try:
            validate_threshold(args.threshold, "--threshold")
        except ValueError as err:
            raise UsageError(str(err)) from None
    for flag in ("psi_threshold", "class_mix_threshold", "low_confidence_delta"):
        if getattr(args, flag) <= 0:
            raise UsageError(f"--{flag.replace('_', '-')} must be positive")
    if args.min_records < 1:
        raise UsageError("--min-records must be at least 1")
    since = _parse_time(args.since, "--since")
    until = _parse_time(args.until, "--until")
    baseline = _load_baseline(args.baseline)
    names: tuple[str, ...]
    if args.class_names:
        try:
            names = parse_class_names(args.class_names, "--class-names")
        except ValueError as err:
            raise UsageError(str(err)) from None
        if baseline is not None and names != baseline.class_names:
            raise UsageError(f"--class-names {list(names)} differ from the baseline's {list(baseline.class_names)}")
    else:
        names = baseline.class_names if baseline is not None else CLASS_NAMES

    parsed = _read_capture(args.capture, len(names))
    records = [r for r in parsed.records
               if (since is None or r.inference_time >= since) and (until is None or r.inference_time <= until)]
    thresholds = DriftThresholds(psi=args.psi_threshold, class_mix_tvd=args.class_mix_threshold,
                                 low_confidence_delta=args.low_confidence_delta, min_records=args.min_records)
    report = build_report(records, parsed.bad, baseline, threshold=args.threshold, class_names=names,
                          thresholds=thresholds)
    report["capture"] = {
        "source": args.capture,
        "files": parsed.files,
        "since": since.strftime("%Y-%m-%dT%H:%M:%SZ") if since else None,
        "until": until.strftime("%Y-%m-%dT%H:%M:%SZ") if until else None,
        "records_filtered_out": len(parsed.records) - len(records),
    }
    report["baseline_file"] = args.baseline
    report["generated_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    report["_records"] = records  # for plotting; removed before printing
    report["_baseline"] = baseline
    return report


def run(args: argparse.Namespace) -> int:
    try:
        report = build(args)
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    records = report.pop("_records")
    baseline = report.pop("_baseline")
    if args.plots:
        try:
            report["plots"] = write_plots(report, records, baseline, args.plots)
        except OSError as err:
            print(f"{PROG}: error: cannot write plots to {args.plots}: {err}", file=sys.stderr)
            return 2
    if report["capture"]["files"] == 0:
        print(f"{PROG}: warning: no capture files found under {args.capture}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, sort_keys=False))
    else:
        print(format_text(report))
    return 0


# --------------------------------------------------------------------------- text output


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def format_text(report: dict[str, Any]) -> str:
    capture = report["capture"]
    n = report["records"]
    lines = [
        f"Capture:          {capture['source']} ({capture['files']} files)",
        f"Records:          {n} valid, {report['bad_records']} bad"
        + (f", {capture['records_filtered_out']} outside --since/--until" if capture["records_filtered_out"] else ""),
    ]
    if report["first_inference_time"]:
        lines.append(f"Time range:       {report['first_inference_time']} .. {report['last_inference_time']}")
    mix = ", ".join(f"{name} {count} ({_pct(report['class_shares'][name])})"
                    for name, count in report["class_counts"].items())
    lines.append(f"Class counts:     {mix}")
    mean = report["mean_confidence"]
    lines.append(f"Mean confidence:  {'n/a' if mean is None else f'{mean:.4f}'}")
    lines.append(f"Low confidence:   {_pct(report['low_confidence_share'])} "
                 f"({report['low_confidence_records']} records with top probability < {report['threshold']})")
    for bad in report["bad_record_examples"]:
        where = f"{bad['file']}:{bad['line']}" if bad["line"] is not None else bad["file"]
        lines.append(f"  bad record  {where}: {bad['reason']}")
    if report["bad_records"] > len(report["bad_record_examples"]):
        lines.append(f"  ... and {report['bad_records'] - len(report['bad_record_examples'])} more bad records")
    if report["hourly"]:
        lines.append("Per hour (UTC):")
        for hour in report["hourly"]:
            shares = " ".join(f"{name} {_pct(share)}" for name, share in hour["class_shares"].items())
            lines.append(f"  {hour['hour']}  {hour['records']:5d} records  {shares}  "
                         f"low-confidence {_pct(hour['low_confidence_share'])}")
    drift = report["drift"]
    if not drift.get("computed"):
        lines.append(f"Drift:            not computed ({drift['reason']})")
    else:
        base = drift["baseline"]
        lines.append(f"Baseline:         {base['records']} {base['source']} predictions, mean confidence "
                     f"{base['mean_confidence']:.4f}, low confidence {_pct(base['low_confidence_share'])}, "
                     + ", ".join(f"{k} {_pct(v)}" for k, v in base["class_shares"].items()))
        t = drift["thresholds"]
        lines.append(f"Confidence PSI:   {drift['confidence_psi']:.4f} (drift above {t['psi']})")
        lines.append(f"Class-mix TVD:    {drift['class_mix']['tvd']:.4f} (drift above {t['class_mix_tvd']}); "
                     f"class PSI {drift['class_mix']['psi']:.4f}")
        low = drift["low_confidence_share"]
        lines.append(f"Low-conf. delta:  {low['delta']:+.4f} ({_pct(low['baseline'])} -> {_pct(low['current'])}; "
                     f"drift above +{t['low_confidence_delta']})")
        if drift["drift_detected"]:
            lines.append("Drift:            DETECTED - " + "; ".join(drift["reasons"]))
        elif not drift["sufficient_sample"]:
            lines.append(f"Drift:            not flagged - {drift['note']}")
            if drift.get("suppressed_reasons"):
                lines.append("                  (would have fired: " + "; ".join(drift["suppressed_reasons"]) + ")")
        else:
            lines.append("Drift:            none detected")
    for path in report.get("plots", []):
        lines.append(f"Plot:             {path}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- plots


def write_plots(report: dict[str, Any], records: list, baseline: Baseline | None, out_dir: str) -> list[str]:
    """Confidence histogram vs baseline, class mix over time, low-confidence share over time (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    threshold = report["threshold"]
    names = report["class_names"]
    hourly = report["hourly"]
    written = []

    # 1. top-confidence histogram, shares per bin, current vs baseline
    edges = bin_edges()
    width = edges[1] - edges[0]
    centers = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    current = histogram(r.top_confidence for r in records)
    n = max(len(records), 1)
    offset, bar_width = (width / 4, width / 2) if baseline is not None else (0.0, width * 0.9)
    ax.bar([c - offset for c in centers], [c / n for c in current], width=bar_width,
           label=f"capture (n={len(records)})", color="tab:blue")
    if baseline is not None:
        base = histogram(baseline.top_confidence)
        ax.bar([c + width / 4 for c in centers], [c / len(baseline.top_confidence) for c in base], width=width / 2,
               label=f"baseline {baseline.source} (n={len(baseline.top_confidence)})", color="tab:gray")
    ax.axvline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold}")
    ax.set_xlim(*CONFIDENCE_RANGE)
    ax.set_xlabel("top-class probability")
    ax.set_ylabel("share of predictions")
    title = "Prediction confidence"
    if report["drift"].get("computed"):
        title += f" - PSI {report['drift']['confidence_psi']:.3f}"
    ax.set_title(title)
    ax.legend(loc="upper left")
    written.append(_save(fig, out_dir, PLOT_FILES["confidence_histogram"], plt))

    # 2. class mix per hour (stacked shares), baseline shares as dashed lines
    labels = [h["hour"][5:16].replace("T", " ") for h in hourly]
    x = list(range(len(hourly)))
    fig, ax = plt.subplots(figsize=(max(8, 0.35 * len(hourly) + 4), 4.5))
    bottom = [0.0] * len(hourly)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, name in enumerate(names):
        shares = [h["class_shares"][name] for h in hourly]
        ax.bar(x, shares, bottom=bottom, label=name, color=colors[i % len(colors)])
        bottom = [b + s for b, s in zip(bottom, shares)]
    if baseline is not None:
        cumulative = 0.0
        for name in names[:-1]:
            cumulative += baseline.class_counts[name] / len(baseline.predicted)
            ax.axhline(cumulative, color="black", linestyle="--", linewidth=1,
                       label="baseline mix (boundary)" if name == names[0] else None)
    for xi, h in zip(x, hourly):
        ax.text(xi, 1.01, str(h["records"]), ha="center", va="bottom", fontsize=7)
    _hour_axis(ax, x, labels)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("share of predictions (n above bars)")
    ax.set_title("Predicted class mix per hour (UTC)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    written.append(_save(fig, out_dir, PLOT_FILES["class_mix"], plt))

    # 3. low-confidence share per hour
    fig, ax = plt.subplots(figsize=(max(8, 0.35 * len(hourly) + 4), 4.5))
    ax.plot(x, [h["low_confidence_share"] for h in hourly], marker="o", color="tab:orange",
            label=f"capture (top probability < {threshold})")
    drift = report["drift"]
    if drift.get("computed"):
        ax.axhline(drift["low_confidence_share"]["baseline"], color="tab:gray", linestyle="--", label="baseline")
    _hour_axis(ax, x, labels)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("low-confidence share")
    ax.set_title("Low-confidence predictions per hour (UTC)")
    ax.legend(loc="upper left", fontsize=8)
    written.append(_save(fig, out_dir, PLOT_FILES["low_confidence"], plt))
    return written


def _hour_axis(ax, x: list[int], labels: list[str]) -> None:
    if not x:
        ax.text(0.5, 0.5, "no records", transform=ax.transAxes, ha="center", va="center")
        ax.set_xticks([])
        return
    step = max(1, len(x) // 24)
    ax.set_xticks(x[::step])
    ax.set_xticklabels(labels[::step], rotation=45, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(x) - 0.4)


def _save(fig, out_dir: str, name: str, plt) -> str:
    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
