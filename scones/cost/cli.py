"""`scones [-c KEY=VALUE ...] cost [--images-per-day N] [--region R] [--json]`

Synthesizes the app in-process (as the tests and the local runtime do, with cdk.json's context and
the `scones -c` overrides), reads the templates, and prices them with the pinned price table and
the committed measurement. Exit codes: 0 done, 2 bad arguments (a non-positive --images-per-day,
an unknown region, a config value out of range), each with a message naming the problem.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from .measurements import DEFAULT_MEASUREMENTS, MeasurementError, load_measurements
from .prices import DEFAULT_PRICES, MissingPriceError, UnknownRegionError, load_prices

DEFAULT_IMAGES_PER_DAY = 100_000


def images_per_day(text: str) -> float:
    """argparse type: a positive, finite number of images a day (1000, 1e5, 2.5e6)."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number of images a day, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of images a day, got {text!r}")
    return value


def cost_document(images: float, region: str, context: dict[str, Any] | None = None,
                  measurements_path: Path = DEFAULT_MEASUREMENTS, prices_path: Path = DEFAULT_PRICES) -> dict[str, Any]:
    """Synthesize, read the templates, price them: the `--json` document (see `report`)."""
    from scones.local.cloud_assembly import synthesize

    from .config_view import bucket_layout
    from .estimate import estimate, levers
    from .inventory import describe, read_inventory
    from .model import CostInputs
    from .report import as_document
    from .usage import Assumptions

    table = load_prices(prices_path)
    prices = table.region(region)  # an unknown region fails before the synthesis
    measurements = load_measurements(measurements_path)
    with tempfile.TemporaryDirectory(prefix="scones-cost-") as tmp:
        assembly = synthesize(Path(tmp) / "cdk.out", context=context or {})
    inventory = read_inventory(assembly.templates)
    inputs = CostInputs(inventory=inventory, measurements=measurements, prices=prices,
                        images_per_day=images, layout=bucket_layout(assembly.config), assumptions=Assumptions())
    result = estimate(inputs)
    m = measurements.document
    return as_document(result, levers(inputs, result), inputs.assumptions, table.provenance(),
                       {"source": os.path.relpath(measurements.source), "measured_on": m["measured_on"],
                        "what": m["what"], "machine": m["machine"], "images": m["images"]},
                       describe(inventory))


def cmd_cost(args: argparse.Namespace) -> int:
    try:
        document = cost_document(args.images_per_day, args.region, dict(getattr(args, "config_overrides", {}) or {}))
    except (UnknownRegionError, MissingPriceError, MeasurementError) as exc:
        print(f"scones cost: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(document))
    else:
        from .report import as_text

        print(as_text(document))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "cost", help="monthly cost and cost per million images, from the synthesized templates",
        description="Price the configured deployment from its synthesized templates, the pinned price table "
                    "(scones/cost/data/prices.json) and the committed local measurement "
                    "(scones/cost/data/measurements.json). No network. Config overrides go before the "
                    "command: scones -c data_capture_sampling_percentage=10 cost")
    parser.add_argument("--images-per-day", type=images_per_day, default=DEFAULT_IMAGES_PER_DAY,
                        help=f"uploads a day (default {DEFAULT_IMAGES_PER_DAY:,})")
    parser.add_argument("--region", default=os.environ.get("CDK_DEFAULT_REGION") or "us-east-1",
                        help="AWS region of the price table (default: CDK_DEFAULT_REGION, else us-east-1)")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of text")
    parser.set_defaults(func=cmd_cost)
