"""`scones` command line: one entry point for training, evaluation, the local runtime and reports.

Each subcommand lives next to the code it drives; a module listed in COMMAND_MODULES exposes
`register(subparsers)`, which adds its subcommand(s) and sets `func` (args -> exit code).

The commands read the app's one config (`stacks.config.load_config`: cdk.json, as `cdk synth`
reads it), and `scones -c key=value COMMAND ...` overrides a key as `cdk synth -c key=value` does.
Options that default to a config knob are listed in CONFIG_DEFAULTS; their --help shows the
configured value. The parsed namespace carries `config` (the SconesConfig) and
`config_overrides` (the `-c` pairs, for the commands that synthesize the app).
"""
import argparse
import importlib
import sys
from typing import Callable

COMMAND_MODULES: list[str] = [
    "training.cli",
    "scones.capture_report",
    "scones.local.serve_cli",
    "scones.local.run_cli",
    "scones.cost.cli",
    "scones.batch.cli",
    "scones.reviewers",
]

# command -> {option dest: the config knob it defaults to}
CONFIG_DEFAULTS: dict[str, dict[str, Callable]] = {
    "train": {"confidence_threshold": lambda c: c.decision.threshold},
    "evaluate": {"threshold": lambda c: c.decision.threshold},
    "run": {"threshold": lambda c: c.decision.threshold},
    "demo": {"threshold": lambda c: c.decision.threshold},
    "serve": {"endpoint_name": lambda c: c.endpoint.name},
    # As the deployed drift check judges (its THRESHOLD, PSI_THRESHOLD and MIN_RECORDS come from these knobs).
    "capture-report": {"threshold": lambda c: c.decision.threshold,
                       "psi_threshold": lambda c: c.drift.psi_alarm_threshold,
                       "min_records": lambda c: c.drift.min_records},
}


def _context_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--context", dest="config_context", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (cdk.json context 'scones'), as `cdk synth -c` does; repeatable; "
                             "before the command")


def build_parser(config=None) -> argparse.ArgumentParser:
    """The full parser; option defaults from `config` (default: the app config without overrides)."""
    from stacks.config import load_config

    config = config or load_config()
    parser = argparse.ArgumentParser(prog="scones", description="Scones Unlimited vehicle classifier workflow")
    _context_option(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    for command, defaults in CONFIG_DEFAULTS.items():
        subparsers.choices[command].set_defaults(**{dest: knob(config) for dest, knob in defaults.items()})
    return parser


def main(argv: list[str] | None = None) -> int:
    from stacks.config import ConfigurationError, load_config, parse_context_pairs

    # The overrides come before the command (a command may have a -c of its own).
    pre = argparse.ArgumentParser(add_help=False)
    _context_option(pre)
    pre.add_argument("command_line", nargs=argparse.REMAINDER)
    known, _ = pre.parse_known_args(argv)
    try:
        overrides = parse_context_pairs(known.config_context)
        config = load_config(overrides)
    except ConfigurationError as err:
        print(f"scones: {err}", file=sys.stderr)
        return 2
    parser = build_parser(config)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    args.config, args.config_overrides = config, overrides
    try:
        return int(args.func(args) or 0)
    except ConfigurationError as err:  # e.g. --threshold 1.7: the config names the key and the range
        print(f"scones: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
