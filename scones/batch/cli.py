"""`scones batch`: reclassify every object under a prefix with the batch workflow.

    scones batch --prefix s3://BUCKET/PREFIX/ [--publish-routing-events] [--json]
        against AWS: starts the deployed batch state machine (found by its configured name) with
        boto3's default credentials and region, waits (progress on stderr), prints the summary.
    scones batch --images DIR [--publish-routing-events] [--json] [--model PATH] [--workdir DIR]
        locally: the same synthesized state machine in moto; one line per file
        `{"key", "outcome", "label", "confidence", "reason"}`, then a summary line.

Exit status: 0 when the batch succeeded, 1 when it failed (e.g. more failures than tolerated:
the summary says how many and where the results are), 2 for a request it refuses.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from scones_contracts.batch import BatchRequestError

EXIT_FAILED, EXIT_REFUSED = 1, 2


def register(subparsers) -> None:
    batch = subparsers.add_parser("batch", help="reclassify every object under a prefix (Distributed Map)")
    source = batch.add_mutually_exclusive_group(required=True)
    source.add_argument("--prefix", metavar="s3://BUCKET/PREFIX/",
                        help="in AWS: objects under this prefix of the data bucket (incoming/ or backlog/)")
    source.add_argument("--images", metavar="DIR", help="locally: every file under DIR (recursive, any name)")
    batch.add_argument("--publish-routing-events", action="store_true",
                       help="publish a routing event per routed object (default: none; a backfill dispatches no one)")
    batch.add_argument("--json", action="store_true", help="JSON lines (locally: one per file, then the summary)")
    batch.add_argument("--model", help="locally: model.tar.gz (default: cached or freshly trained on the sample data)")
    batch.add_argument("--workdir", help="locally: where to keep synthesized templates, captures and Lambda logs")
    batch.set_defaults(func=cmd_batch)


def cmd_batch(args: argparse.Namespace) -> int:
    if args.images:
        return run_local(args, sys.stdout)
    import boto3

    session = boto3.session.Session()
    return run_on_aws(args, session.client("stepfunctions"), session.client("s3"), sys.stdout)


def run_on_aws(args: argparse.Namespace, sfn: Any, s3: Any, out: TextIO) -> int:
    """Start the deployed batch machine over `args.prefix`, wait, print the summary."""
    from .client import BatchClient

    client = BatchClient(args.config, sfn, s3)
    try:
        execution = client.start(args.prefix, publish_routing_events=args.publish_routing_events)
    except BatchRequestError as err:
        print(f"scones batch: {err}", file=sys.stderr)
        return EXIT_REFUSED
    _note(f"started {execution.arn}")
    try:
        description = client.wait(execution, progress=_note)
    except KeyboardInterrupt:
        _note(f"stopped waiting; the execution goes on: {execution.arn}")
        raise
    summary = client.summary(execution, description)
    _write(out, json.dumps(summary, ensure_ascii=_ascii_only(out)) if args.json else summary_text(summary))
    return 0 if description["status"] == "SUCCEEDED" else EXIT_FAILED


def run_local(args: argparse.Namespace, out: TextIO) -> int:
    """Every file under `args.images` through the synthesized batch machine in moto, one line each."""
    from scones.local.demo_model import ensure_model
    from scones.local.run_cli import LambdaLogsToFile
    from scones.local.runtime import LocalWorkflow, list_images

    from .client import BatchClient
    from .local import run_local_batch, summary_line, timed

    images = Path(args.images)
    if not images.is_dir():
        print(f"scones batch: --images {images} is not a folder", file=sys.stderr)
        return EXIT_REFUSED
    files = list_images(images)
    if not files:
        print(f"scones batch: no files under {images}", file=sys.stderr)
        return EXIT_REFUSED
    model = ensure_model(Path(args.model) if args.model else None, args.config.decision.threshold, log=_note)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="scones-batch-"))
    with LambdaLogsToFile(workdir / "lambda-logs.jsonl"), \
            LocalWorkflow(model, workdir, context=args.config_overrides) as workflow:
        aws = workflow.aws
        client = BatchClient(workflow.config, aws.sfn, aws.s3)
        run, seconds = timed(lambda: run_local_batch(client, aws.deployed.bucket, files, images,
                                                     args.publish_routing_events, progress=_note))
    ascii_only = _ascii_only(out)
    for result in run.results:
        _write(out, json.dumps(result.line(), ensure_ascii=ascii_only) if args.json else result_text(result))
    summary = summary_line(run, seconds)
    summary["lambda_logs"] = str(workdir / "lambda-logs.jsonl")
    _write(out, json.dumps(summary, ensure_ascii=ascii_only) if args.json else summary_text(summary))
    return 0 if run.status == "SUCCEEDED" else EXIT_FAILED


def result_text(result) -> str:
    detail = f"{result.label} {result.confidence:.3f}" if result.confidence is not None else ""
    return f"{result.outcome:<12} {result.key}  {detail}  {result.reason or ''}".rstrip()


def summary_text(summary: dict[str, Any]) -> str:
    counts = summary.get("counts") or {}
    parts = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    text = (f"\nbatch {summary.get('status')}: {summary.get('objects')} objects under "
            f"s3://{summary.get('bucket')}/{summary.get('prefix')} ({parts or 'none'}); "
            f"{summary.get('failed_percentage')} % failed (tolerated {summary.get('tolerated_failure_percentage')} %); "
            f"{summary.get('routing_events_published', 0)} routing events published\nresults: {summary.get('results')}")
    if summary.get("error"):
        text += f"\n{summary['error']}: {summary.get('cause')}"
    return text


def _ascii_only(out: TextIO) -> bool:
    """Escape non-ASCII in JSON (still the same JSON) when the stream cannot encode UTF-8."""
    return (getattr(out, "encoding", None) or "utf-8").lower().replace("-", "").replace("_", "") != "utf8"


def _write(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
