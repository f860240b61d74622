"""SageMaker script-mode entry point: `python train.py --epochs 80 --seed 0 ...`.

Reads SM_CHANNEL_TRAINING (or the single SM_CHANNEL_*), SM_MODEL_DIR, SM_OUTPUT_DATA_DIR and
SM_NUM_CPUS when set, and runs the same code as `scones train`: the extracted artifact goes to
SM_MODEL_DIR (SageMaker packs it as model.tar.gz), our deterministic model.tar.gz and
training_report.json to SM_OUTPUT_DATA_DIR. Unknown hyperparameters are reported and ignored.
Works from the repo (`python training/train.py`) and from a source_dir holding only this package.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path


def _import_package() -> None:
    """Make `import training` work when run as a script, whatever the folder is called."""
    here = Path(__file__).resolve().parent
    # our module names (model, dataset, metrics, ...) must not shadow top-level imports of others
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    if "training" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location("training", here / "__init__.py", submodule_search_locations=[str(here)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["training"] = package
    spec.loader.exec_module(package)


def main(argv: list[str] | None = None) -> int:
    _import_package()
    from training.cli import add_train_arguments, run_train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_train_arguments(parser)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"ignoring unknown arguments: {' '.join(unknown)}", file=sys.stderr)
    return run_train(args)


if __name__ == "__main__":
    sys.exit(main())
