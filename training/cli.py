"""`scones` subcommands for the model: train, evaluate, bench-model, etl.

`train` shares its argument parser and run function with `training/train.py` (the SageMaker
script-mode entry point), so both take the same flags and honour the same SM_* variables.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from scones_contracts.decision import DEFAULT_THRESHOLD, validate_threshold
from scones_contracts.training_recipe import PRECISIONS
from training.constants import SAMPLE_DATA_DIR


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sagemaker_training_channels(environ: dict[str, str]) -> list[str]:
    """The training data folders SageMaker mounted: SM_CHANNEL_TRAINING (or SM_CHANNEL_TRAIN) first, then
    every other SM_CHANNEL_* except test/validation in name order (e.g. a `labels` channel of reviewed
    examples); empty outside SageMaker."""
    first = [environ[name] for name in ("SM_CHANNEL_TRAINING", "SM_CHANNEL_TRAIN") if environ.get(name)][:1]
    others = sorted(k for k in environ if k.startswith("SM_CHANNEL_") and environ[k]
                    and k not in ("SM_CHANNEL_TRAINING", "SM_CHANNEL_TRAIN", "SM_CHANNEL_TEST", "SM_CHANNEL_VALIDATION"))
    return first + [environ[k] for k in others]


def add_train_arguments(parser: argparse.ArgumentParser, environ: dict[str, str] | None = None) -> None:
    """Training flags; defaults come from SageMaker's SM_* variables when they are set."""
    from training.trainer import TrainConfig

    env = os.environ if environ is None else environ
    defaults = TrainConfig()
    in_sagemaker = bool(env.get("SM_MODEL_DIR"))
    channels = sagemaker_training_channels(env)
    parser.add_argument("--data", type=Path, action="append", default=None, metavar="DIR",
                        help="dataset folder: train.lst + train/, and/or reviewed labels (lists/*.lst + images/, "
                             "what `scones run --labels-out` writes); repeat to train on several folders together "
                             f"(default: {'the SageMaker training channels' if channels else 'the repo sample'})")
    parser.set_defaults(default_data=[Path(c) for c in channels] or [SAMPLE_DATA_DIR])
    parser.add_argument("--lst", type=Path, default=None, help="list file of a single --data folder (default: DATA/train.lst)")
    parser.add_argument("--model-dir", type=Path, default=Path(env["SM_MODEL_DIR"]) if in_sagemaker else None,
                        required=not in_sagemaker, help="where the artifact goes (default: SM_MODEL_DIR)")
    parser.add_argument("--output-data-dir", type=Path, default=Path(env["SM_OUTPUT_DATA_DIR"]) if env.get("SM_OUTPUT_DATA_DIR") else None,
                        help="training_report.json (+ model.tar.gz in dir layout) (default: SM_OUTPUT_DATA_DIR)")
    parser.add_argument("--layout", choices=("tar", "dir"), default="dir" if in_sagemaker else "tar",
                        help="tar: MODEL_DIR/model.tar.gz; dir: extracted files in MODEL_DIR (SageMaker packs them)")
    parser.add_argument("--test-data", type=Path, default=Path(env["SM_CHANNEL_TEST"]) if env.get("SM_CHANNEL_TEST") else None,
                        help="optional labelled folder evaluated after training (default: SM_CHANNEL_TEST)")
    parser.add_argument("--test-lst", type=Path, default=None, help="list file in --test-data (default: test.lst, else train.lst)")
    steps = parser.add_mutually_exclusive_group()
    steps.add_argument("--epochs", type=int, default=defaults.epochs, help=f"passes over the training split (default {defaults.epochs})")
    steps.add_argument("--steps", type=int, default=None, help="total optimiser steps (overrides --epochs)")
    cpus = env.get("SM_NUM_CPUS")
    parser.add_argument("--threads", type=int, default=int(cpus) if cpus else min(defaults.threads, os.cpu_count() or 1),
                        help="torch threads; results are bit-identical for a given seed + thread count (default: SM_NUM_CPUS or 2)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--val-fraction", type=float, default=defaults.val_fraction)
    parser.add_argument("--width", type=int, default=defaults.width, help="ResNet-9 base width")
    parser.add_argument("--members", type=int, default=defaults.members, help="ensemble size (seeds averaged)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate")
    parser.add_argument("--warmup-fraction", type=float, default=defaults.warmup_fraction)
    parser.add_argument("--momentum", type=float, default=defaults.momentum)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--label-smoothing", type=float, default=defaults.label_smoothing)
    parser.add_argument("--crop-padding", type=int, default=defaults.crop_padding)
    parser.add_argument("--cutout", type=int, default=defaults.cutout, help="cutout square side in pixels (0 = off)")
    parser.add_argument("--cutmix", type=float, default=defaults.cutmix, help="probability of a CutMix batch (0 = off)")
    parser.add_argument("--ema-decay", type=float, default=defaults.ema_decay, help="weight EMA decay (0 = off)")
    parser.add_argument("--flip-tta", type=_bool, default=defaults.flip_tta, help="average logits over a horizontal flip")
    parser.add_argument("--precision", choices=PRECISIONS, default=defaults.precision,
                        help="auto: bf16 autocast where the hardware computes bf16 natively (CPU avx512_bf16/AMX, "
                             "CUDA 8.0+), else fp32; bf16/fp32 force it (default %(default)s)")
    parser.add_argument("--log-every", type=int, default=0, help="epochs between progress lines (0 = ~10 lines)")
    parser.add_argument("--confidence-threshold", type=_threshold, default=DEFAULT_THRESHOLD, metavar="T",
                        help="the routing threshold the validation metrics and the drift baseline are computed at, "
                             "recorded in metadata.json and baseline.json (default %(default)s; SageMaker: the model "
                             "stack passes the config's confidence_threshold)")


def _threshold(text: str) -> float:
    """A routing threshold, validated by the one rule (`scones_contracts.decision`)."""
    try:
        return validate_threshold(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _bool(text: str) -> bool:
    """SageMaker passes hyperparameters as strings: accept true/false/1/0/yes/no."""
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def config_from_args(args: argparse.Namespace):
    from training.trainer import TrainConfig

    return TrainConfig(width=args.width, members=args.members, epochs=args.epochs, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                       warmup_fraction=args.warmup_fraction, momentum=args.momentum, weight_decay=args.weight_decay,
                       label_smoothing=args.label_smoothing, crop_padding=args.crop_padding, cutout=args.cutout, cutmix=args.cutmix,
                       ema_decay=args.ema_decay, flip_tta=args.flip_tta, precision=args.precision, seed=args.seed,
                       val_fraction=args.val_fraction, threads=args.threads)


def run_train(args: argparse.Namespace) -> int:
    """Train, write the artifact, optionally evaluate a test channel; prints the report JSON last."""
    from training.dataset import DatasetError
    from training.pipeline import run_training

    try:
        run = run_training(args.data or args.default_data, config_from_args(args), args.model_dir, lst=args.lst,
                           layout=args.layout, output_data_dir=args.output_data_dir, log=_log,
                           log_every=args.log_every, threshold=args.confidence_threshold)
    except DatasetError as bad_data:  # a bad folder, list or image: name it, no traceback
        _log(f"scones train: {bad_data}")
        return 2
    summary = {key: run.report[key] for key in ("model_version", "artifact", "model_dir", "train_seconds",
                                                "train_cpu_seconds", "precision")}
    summary["validation"] = {k: run.metadata["validation"][k] for k in ("n", "accuracy", "coverage", "selective_accuracy", "ece")}
    summary["temperature"] = run.metadata["temperature"]
    if args.test_data is not None:
        from training.evaluate import evaluate_model

        test_lst = args.test_lst or ("test.lst" if (args.test_data / "test.lst").is_file() else "train.lst")
        test = evaluate_model(run.artifact_path or run.model_dir, args.test_data, test_lst, log=_log)
        (run.report_path.parent / "test_metrics.json").write_text(json.dumps(test, indent=2) + "\n")
        summary["test"] = {k: test[k] for k in ("n", "accuracy", "coverage", "selective_accuracy", "ece")}
    print(json.dumps(summary))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate_model, format_summary

    summary = evaluate_model(args.model, args.data, args.lst, threshold=args.threshold, plots_dir=args.plots, log=_log)
    if args.json:
        print(json.dumps(summary))
    else:
        print(format_summary(summary))
    return 0


def bench_config(args: argparse.Namespace):
    """The recipe `scones bench-model` trains: the default one, with the flags' threads, seed and epochs.
    With its default flags (and at least TrainConfig().threads CPUs) it is `TrainConfig()`, the demo's
    recipe, so a model kept with `--out artifacts` is the demo's cached model (what `make bench` relies on)."""
    from training.trainer import TrainConfig

    config = TrainConfig(threads=args.threads, seed=args.seed)
    return config if args.epochs is None else replace(config, epochs=args.epochs)


def run_bench(args: argparse.Namespace) -> int:
    from training.bench import run_model_bench

    config = bench_config(args)
    results = run_model_bench(args.data, config, out_dir=args.out, model_path=args.model,
                              latency_calls=args.latency_calls, log=_log)
    if args.json:
        print(json.dumps(results))
    return 0


def run_bench_recipes(args: argparse.Namespace) -> int:
    from training.dataset import load_labeled_images
    from training.recipe_bench import RECIPES, format_report, format_summary, run_recipe_bench, summarize

    recipes = args.recipes.split(",") if args.recipes else list(RECIPES)
    unknown = sorted(set(recipes) - set(RECIPES))
    if unknown:
        raise SystemExit(f"scones bench-recipes: unknown recipe(s) {unknown}; known: {sorted(RECIPES)}")
    if not args.summary_only:
        data = load_labeled_images(args.data)
        only = [int(f) for f in args.only_folds.split(",")] if args.only_folds else None
        run_recipe_bench(data, recipes, args.folds, args.out, only, args.threads, args.precision, log=_log)
    rows = [json.loads(line) for path in [args.out, *args.merge] for line in Path(path).read_text().splitlines()
            if line.strip()]
    rows = [r for r in rows if r["recipe"] in recipes and r["folds"] == args.folds]
    summary = summarize(rows, args.reference)
    print(format_summary(summary, args.reference))
    if args.report:
        command = "scones " + " ".join(sys.argv[1:])
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(format_report(rows, recipes, args.reference, command, time.strftime("%Y-%m-%d")))
    if args.json:
        print(json.dumps(summary))
    return 0


def run_bench_training(args: argparse.Namespace) -> int:
    from training.throughput import ISA_PROFILES, main

    argv = ["--profiles", args.profiles or ",".join(ISA_PROFILES), "--repeats", str(args.repeats),
            "--quiet-wait", str(args.quiet_wait)] + (["--write"] if args.write else [])
    return main(argv)


def run_etl(args: argparse.Namespace) -> int:
    from training.etl import extract_bicycle_motorcycle

    counts = extract_bicycle_motorcycle(args.archive, args.out)
    print(json.dumps({"out": str(args.out), "counts": counts}))
    return 0


def register(subparsers) -> None:
    from training.trainer import TrainConfig  # add_train_arguments imports it too

    train = subparsers.add_parser("train", help="train the classifier and write model.tar.gz",
                                  description="Train ResNet-9 on a .lst dataset, calibrate, write the SageMaker artifact.")
    add_train_arguments(train)
    train.set_defaults(func=run_train)

    evaluate = subparsers.add_parser("evaluate", help="evaluate model.tar.gz on a labelled folder via the serving handlers")
    evaluate.add_argument("--model", type=Path, required=True, help="model.tar.gz or extracted artifact dir")
    evaluate.add_argument("--data", type=Path, default=SAMPLE_DATA_DIR, help="dataset folder (default: repo sample)")
    evaluate.add_argument("--lst", type=Path, default=None, help="list file (default: DATA/train.lst)")
    evaluate.add_argument("--threshold", type=_threshold, default=DEFAULT_THRESHOLD,
                          help="routing threshold for coverage and selective accuracy (default %(default)s; "
                               "`scones evaluate`: the config's confidence_threshold)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    evaluate.add_argument("--plots", type=Path, default=None, help="write confusion/reliability/histogram PNGs here")
    evaluate.set_defaults(func=run_evaluate)

    bench = subparsers.add_parser("bench-model", help="train on the sample data and measure quality and speed")
    bench.add_argument("--data", type=Path, default=SAMPLE_DATA_DIR)
    bench.add_argument("--model", type=Path, default=None, help="benchmark this artifact instead of training one")
    bench.add_argument("--out", type=Path, default=None, help="keep the trained artifact here")
    bench.add_argument("--epochs", type=int, default=None)
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--threads", type=int, default=min(TrainConfig().threads, os.cpu_count() or 1))
    bench.add_argument("--latency-calls", type=int, default=200)
    bench.add_argument("--json", action="store_true", help="print the results as one JSON line")
    bench.set_defaults(func=run_bench)

    recipes = subparsers.add_parser(
        "bench-recipes", help="compare training recipes by cross-validation on the development images (long)",
        description="Cross-validate recipes on the images the default training does not hold out (the demo's "
                    "held-out images are never used); rows are appended to --out as they finish and the run resumes.")
    recipes.add_argument("--data", type=Path, default=SAMPLE_DATA_DIR)
    recipes.add_argument("--recipes", default=None, help="comma-separated names (default: all; see training/recipe_bench.py)")
    recipes.add_argument("--folds", type=int, default=5, help="K stratified folds (each with its own seed)")
    recipes.add_argument("--only-folds", default=None, help="run only these fold numbers (e.g. 0,2), to split the work")
    recipes.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    recipes.add_argument("--precision", choices=("auto", "bf16", "fp32"), default=None)
    recipes.add_argument("--out", type=Path, default=Path("reports/recipes.jsonl"), help="results file (JSONL, appended)")
    recipes.add_argument("--merge", type=Path, nargs="*", default=[], help="more results files to summarize with --out")
    recipes.add_argument("--reference", default="r240", help="recipe the paired differences are taken against")
    recipes.add_argument("--summary-only", action="store_true", help="summarize the results files without training")
    recipes.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    recipes.add_argument("--report", type=Path, default=None,
                         help="also write a Markdown record (command, date, load caveat, summary and per-run table)")
    recipes.set_defaults(func=run_bench_recipes)

    speed = subparsers.add_parser(
        "bench-training", help="training step time per CPU instruction set (the synth-time runtime check's table)",
        description="Time the recipe's training step under ONEDNN_MAX_CPU_ISA caps standing for each SageMaker "
                    "instance family, in fp32 and bf16, and the speed-up of 2 threads in a quiet moment.")
    speed.add_argument("--profiles", default=None, help="comma-separated ISA profiles (default: all)")
    speed.add_argument("--repeats", type=int, default=3)
    speed.add_argument("--quiet-wait", type=float, default=600,
                       help="seconds to wait for a quiet moment before timing 2 threads against 1 (default 600)")
    speed.add_argument("--write", action="store_true", help="store the table in stacks/data/training_throughput.json")
    speed.set_defaults(func=run_bench_training)

    etl = subparsers.add_parser("etl", help="extract bicycle/motorcycle PNGs + .lst from cifar-100-python.tar.gz")
    etl.add_argument("--archive", type=Path, required=True)
    etl.add_argument("--out", type=Path, required=True)
    etl.set_defaults(func=run_etl)
