"""`scones run` (the interface our checks use) and `scones demo` (what a new user runs first)."""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .demo_model import ROOT, SAMPLE_DATA, ensure_model
from .serve_cli import _bounded

# The runtime (and through it the CDK, which starts a Node process) is imported only by the
# commands that need it, so `scones --help`, `scones serve` and `scones train` stay quick.


class _SwitchableStdout(io.TextIOBase):
    """sys.stdout whose destination can change: loggers created while it is installed keep
    writing to it, so a later run's logs go to that run's file, never to a closed one."""

    def __init__(self, target) -> None:
        self.target = target

    def write(self, text: str) -> int:
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()


class LambdaLogsToFile:
    """Keep the functions' logs and EMF metrics (they print to stdout, as in Lambda) in a file,
    the local stand-in for CloudWatch Logs, so the console shows only outcomes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> "LambdaLogsToFile":
        import logging
        import warnings

        # Powertools warns on stderr when a handler path emits no metric; the logs file is the place.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.open("a", encoding="utf-8")
        if not isinstance(sys.stdout, _SwitchableStdout):
            sys.stdout = _SwitchableStdout(sys.stdout)
        self.previous = sys.stdout.target
        sys.stdout.target = self.file
        for name in ("moto", "werkzeug", "uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        return self

    def __exit__(self, *exc_info) -> None:
        sys.stdout.target = self.previous
        self.file.close()


CONSOLE = sys.stdout


def _say(text: str) -> None:
    print(text, file=CONSOLE, flush=True)


def _note(text: str) -> None:
    """Progress and notices: stderr, so stdout stays one line per file."""
    print(f"scones run: {text}", file=sys.stderr, flush=True)


def _one_line(text: str) -> str:
    """A key or reason on one console line: control characters (a newline in a file name) escaped."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _print_outcome(outcome, as_json: bool) -> None:
    if as_json:
        _say(outcome.json_line())
        return
    confidence = f"{outcome.confidence:.3f}" if outcome.confidence is not None else None
    if outcome.decided_by == "reviewer":
        detail = (f"{outcome.label} (decided by a reviewer; model confidence {confidence or 'none'})"
                  if outcome.outcome == "routed" else f"rejected by a reviewer: {outcome.reason or '(no note)'}")
    elif outcome.outcome == "routed":
        detail = f"{outcome.label} {confidence or ''}"
    elif outcome.outcome == "review":
        detail = f"{outcome.label} {confidence} (below threshold)" if confidence else outcome.reason or ""
    else:
        detail = outcome.reason or ""
    latency = f"{outcome.latency_ms:>8.0f} ms" if outcome.latency_ms is not None else f"{'-':>8}   "
    _say(f"{outcome.outcome:<12} {latency}  {_one_line(outcome.key)}  {_one_line(detail)}")


def run_workflow(images: Path, model: Path, workdir: Path, context: dict, concurrency: int,
                 inject_errors: float, as_json: bool, duplicate_deliveries: bool = False,
                 image_timeout: float | None = None, progress_every: float = 10.0,
                 review=None) -> tuple[list, dict]:
    """Every file under `images` through the local workflow synthesized with the config overrides `context`.

    The summary counts, besides the files' outcomes, the executions refused as duplicate deliveries
    (`duplicates`) and the routing events published on the bus (`routing_events`): one per routed
    image, however often its upload event was delivered. Each image has `image_timeout` seconds
    from its upload (default: the state machine's timeout plus a grace); a run longer than
    `progress_every` seconds reports its progress on stderr.

    `review` (`review_session.ReviewOptions`): serve the review console and API while the run lasts;
    an image waiting for a reviewer gets its line once decided; the run ends when no review is
    pending (or on Ctrl-C), then exports the labelled examples if asked."""
    from scones_contracts.events import ROUTING_EVENT_DETAIL_TYPE

    from .run_summary import summarize
    from .runtime import LocalWorkflow, display_path, list_images, upload_key

    files = list_images(images)
    if not files:
        raise SystemExit(f"scones: no files under {images}")
    outcomes = []
    with LambdaLogsToFile(workdir / "lambda-logs.jsonl"), \
            LocalWorkflow(model, workdir, context=context, inject_errors=inject_errors) as workflow, \
            contextlib.ExitStack() as reviewing:
        prefix = workflow.config.bucket.incoming_prefix
        for path in files:
            key = upload_key(prefix, images, path)
            if key != prefix + display_path(path.relative_to(images)):
                _note(f"'{display_path(path.relative_to(images))}': the name is not valid UTF-8; uploaded as "
                      f"'{key}' (each byte that is not UTF-8, and each '%', written %XX)")
        console = review.start(workflow, reviewing) if review else None
        started = time.perf_counter()
        for outcome in workflow.run(files, images, concurrency=concurrency, image_timeout_s=image_timeout,
                                    duplicate_deliveries=duplicate_deliveries,
                                    on_progress=lambda progress: _note(progress.line()),
                                    progress_every_s=progress_every,
                                    **(console.run_options() if console else {})):
            outcomes.append(outcome)
            _print_outcome(outcome, as_json)
        summary = summarize(outcomes, time.perf_counter() - started)
        if console:
            summary["review"] = review.finish(console)
        summary["duplicate_deliveries"] = duplicate_deliveries
        summary["duplicates"] = workflow.duplicates
        published = workflow.aws.routing_events()  # the bus also carries Photo Rejected / Review Expired
        summary["routing_events"] = sum(1 for event in published
                                        if event.get("detail-type") == ROUTING_EVENT_DETAIL_TYPE)
        summary["threshold"] = workflow.config.decision.threshold
        summary["capture_dir"] = str(workflow.capture_dir) if workflow.capture_dir else None
        summary["lambda_logs"] = str(workdir / "lambda-logs.jsonl")
    return outcomes, summary


def workflow_context(args: argparse.Namespace) -> dict:
    """The `scones -c` overrides plus this command's --threshold (default: the config's)."""
    return {**args.config_overrides, "confidence_threshold": args.threshold}


def cmd_run(args: argparse.Namespace) -> int:
    from .review_session import ReviewOptions, ReviewUnavailable

    images = Path(args.images)
    if not images.is_dir():
        print(f"scones run: --images {images} is not a folder", file=sys.stderr)
        return 2
    if args.labels_out and args.review_port is None:
        print("scones run: --labels-out needs --review-port (the labelled examples are the reviewers' decisions)",
              file=sys.stderr)
        return 2
    if args.review_port is not None and not 0 <= args.review_port <= 65535:
        print(f"scones run: --review-port {args.review_port} is not a TCP port (0..65535; 0 = any free port)",
              file=sys.stderr)
        return 2
    model = ensure_model(Path(args.model) if args.model else None, args.threshold,
                         log=lambda m: print(m, file=sys.stderr))
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="scones-run-"))
    review = None
    if args.review_port is not None:
        review = ReviewOptions.from_environment(args.review_port, Path(args.labels_out) if args.labels_out else None)
    try:
        _, summary = run_workflow(images, model, workdir, workflow_context(args), args.concurrency,
                                  args.inject_errors, args.json, duplicate_deliveries=args.duplicate_deliveries,
                                  image_timeout=args.image_timeout, progress_every=args.progress_every,
                                  review=review)
    except ReviewUnavailable as refused:
        print(f"scones run: {refused}", file=sys.stderr)
        return 2
    print(json.dumps(summary) if args.json else _summary_text(summary), flush=True)
    return 0


def _summary_text(summary: dict) -> str:
    c = summary["counts"]
    lat = summary["latency_ms"]
    steps = ", ".join(f"{k} {v:.0f} ms" for k, v in summary["step_ms_mean"].items())
    return (f"\n{summary['images']} images: {c['routed']} routed, {c['review']} to review, "
            f"{c['quarantined']} quarantined, {c['failed']} failed | {summary['routing_events']} routing events, "
            f"{summary['duplicates']} duplicate deliveries | {summary['throughput_images_per_s']} images/s | "
            f"latency p50 {lat['p50']} ms, p99 {lat['p99']} ms | mean per step: {steps}")


# -- demo ---------------------------------------------------------------------------------------
def build_demo_images(target: Path, per_class: int = 12) -> dict[str, str]:
    """A mix of real images of both classes plus hostile files; returns key-relative path -> true label."""
    from PIL import Image

    from scones_contracts.classes import CLASS_NAMES
    from training.dataset import load_labeled_images, resolve_list_path, stratified_split
    from training.trainer import TrainConfig

    target.mkdir(parents=True, exist_ok=True)
    data = load_labeled_images(SAMPLE_DATA, resolve_list_path(SAMPLE_DATA, None))
    # Images the default training run held out for validation: the model has not trained on them.
    defaults = TrainConfig()
    _, held_out = stratified_split(data.labels, defaults.val_fraction, defaults.seed)
    labels: dict[str, str] = {}
    taken = {name: 0 for name in CLASS_NAMES}
    for index in held_out.tolist():
        path, label = data.files[index], CLASS_NAMES[int(data.labels[index])]
        if taken[label] >= per_class:
            continue
        taken[label] += 1
        name = f"{label}s/{path.name}"
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / name)
        labels[name] = label
    from .hostile_files import write_hostile_files

    write_hostile_files(target / "hostile", (target / next(iter(labels))).read_bytes())
    # A large photo-sized upload of a real image (upscaled), to show any size works.
    Image.open(target / next(iter(labels))).convert("RGB").resize((2400, 1800)).save(target / "large photo.jpg", quality=90)
    labels["large photo.jpg"] = next(iter(labels.values()))
    return labels


def cmd_demo(args: argparse.Namespace) -> int:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report_dir = Path(args.report_dir or ROOT / "reports" / f"demo-{stamp}")
    workdir = report_dir / "work"
    print("== Scones Unlimited local demo: same synthesized state machine, same Lambda and model code, no AWS")
    model = ensure_model(Path(args.model) if args.model else None, args.threshold)
    images = workdir / "images"
    labels = build_demo_images(images, per_class=args.per_class)
    from .runtime import list_images

    # A human decides the images the model is unsure of: with a terminal, the demo serves the review
    # console and waits for those decisions; without one (CI: no stdin) it must not wait for anyone.
    interactive = args.review_port is not None and _has_terminal()
    review = None
    if interactive:
        from .review_session import ReviewOptions

        review = ReviewOptions.from_environment(args.review_port)
    print(f"== uploading {len(list_images(images))} files from {images} under incoming/ "
          f"(concurrency {args.concurrency})")
    if interactive:
        print("== images the model is unsure of wait for you: open the review console printed below "
              "(keys B, M, R), or press Ctrl-C to stop waiting")
    outcomes, summary = run_workflow(images, model, workdir, workflow_context(args), args.concurrency, 0.0, False,
                                     review=review)
    print(_summary_text(summary))
    from .demo_report import write_report

    write_report(report_dir, outcomes, summary, labels, model, images)
    print(f"\n== report written to {report_dir}")
    waiting = sum(1 for outcome in outcomes if outcome.outcome == "review")
    if waiting:
        print(f"\n== {waiting} low-confidence image(s) wait for a reviewer"
              + ("" if interactive else " (no terminal here, so the demo did not wait)") + ". Decide them in the "
              f"review console: {_scones_command()} run --images {images} "
              f"--model {model} --review-port 8765   then open the address it prints (it ends in #token=...)")
    return 0


def _scones_command() -> str:
    """How to call scones from here: the environment's own entry point when it has one."""
    installed = Path(sys.executable).parent / "scones"
    return str(installed) if installed.is_file() else "scones"


def _has_terminal() -> bool:
    """A person at a terminal (stdin and stdout are ttys): someone who can open the console."""
    return all(stream is not None and stream.isatty() for stream in (sys.stdin, sys.stdout))


def cmd_bench_workflow(args: argparse.Namespace) -> int:
    """Local workflow throughput and end-to-end latency at each concurrency, and where the time goes."""
    from .workflow_bench import bench_workflow, print_result

    model = ensure_model(Path(args.model) if args.model else None, args.config.decision.threshold,
                         log=lambda m: print(m, file=sys.stderr))
    with tempfile.TemporaryDirectory(prefix="scones-bench-") as tmp:
        images = Path(tmp) / "images"
        build_demo_images(images, per_class=args.per_class)
        shutil.rmtree(images / "hostile")
        result = bench_workflow(model, images, Path(tmp) / "work", args.concurrency, args.rounds,
                                args.config_overrides, log=lambda m: print(m, file=sys.stderr, flush=True))
    print_result(result)
    return 0


# One bounded-number argument type for every command (serve_cli's).
_image_timeout = _bounded(float, 0.001, 86400.0, "a number of seconds")
_progress_every = _bounded(float, 0.0, 3600.0, "a number of seconds")


def register(subparsers) -> None:
    bench = subparsers.add_parser("bench-workflow", help="benchmark the local workflow end to end")
    bench.add_argument("--model")
    bench.add_argument("--per-class", type=int, default=24)
    bench.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    bench.add_argument("--rounds", type=int, default=3,
                       help="copies of the image set routed per concurrency (default %(default)s)")
    bench.set_defaults(func=cmd_bench_workflow)

    run = subparsers.add_parser("run", help="run every file of a folder through the local workflow")
    run.add_argument("--images", required=True, help="folder of files to upload (recursive, any names)")
    run.add_argument("--model", help="model.tar.gz (default: cached or freshly trained on the sample data)")
    run.add_argument("--threshold", type=float, help="confidence threshold (default: the config's, %(default)s)")
    run.add_argument("--concurrency", type=int, default=8)
    run.add_argument("--inject-errors", type=float, default=0.0, help="share of endpoint calls that fail (0..1)")
    run.add_argument("--duplicate-deliveries", action="store_true",
                     help="deliver every upload event twice, each starting its own execution, as EventBridge may")
    run.add_argument("--image-timeout", type=_image_timeout, metavar="SECONDS",
                     help="time each image has from its upload to an outcome, else it is reported failed "
                          "(default: the state machine's execution timeout + 60 s); the run itself has no limit")
    run.add_argument("--progress-every", type=_progress_every, default=10.0, metavar="SECONDS",
                     help="report progress on stderr this often in a longer run (0: never; default %(default)s)")
    run.add_argument("--workdir", help="where to keep synthesized templates and captures")
    run.add_argument("--json", action="store_true", help="one JSON line per file, then a summary line")
    run.add_argument("--review-port", type=int, metavar="PORT",
                     help="serve the review console and API on 127.0.0.1:PORT (0: any free port) and keep the run "
                          "up until no review is pending (or Ctrl-C); an image waiting for a reviewer gets its "
                          "line when decided. Auth: 'Authorization: Bearer $SCONES_REVIEW_TOKEN' (generated and "
                          "printed on stderr when unset)")
    run.add_argument("--labels-out", metavar="DIR",
                     help="with --review-port: export the run's reviewed examples (rejects excluded) to DIR in the "
                          "training layout (images/ + lists/*.lst)")
    run.set_defaults(func=cmd_run)

    demo = subparsers.add_parser("demo", help="train (or reuse) a model and run a mix of images end to end")
    demo.add_argument("--model")
    demo.add_argument("--threshold", type=float, help="confidence threshold (default: the config's, %(default)s)")
    demo.add_argument("--concurrency", type=int, default=8)
    demo.add_argument("--per-class", type=int, default=12)
    demo.add_argument("--report-dir")
    demo.add_argument("--review-port", type=int, default=0, metavar="PORT",
                      help="at a terminal, serve the review console on 127.0.0.1:PORT (default 0: any free port) "
                           "and wait for the low-confidence images to be decided")
    demo.add_argument("--no-review", dest="review_port", action="store_const", const=None,
                      help="do not serve the review console, even at a terminal")
    demo.set_defaults(func=cmd_demo)


