"""`scones` command line: one entry point for training, evaluation, the local runtime and reports.

Each subcommand lives next to the code it drives; a module listed in COMMAND_MODULES exposes
`register(subparsers)`, which adds its subcommand(s) and sets `func` (args -> exit code).
"""
import argparse
import importlib
import sys

COMMAND_MODULES: list[str] = [
    "training.cli",
    "scones.capture_report",
    "scones.local.serve_cli",
    "scones.local.run_cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scones", description="Scones Unlimited vehicle classifier workflow")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
