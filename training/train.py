"""SageMaker script-mode entry point: `python train.py --epochs 80 --seed 0 ...`.

Reads SM_CHANNEL_TRAINING (or the single SM_CHANNEL_*), SM_MODEL_DIR, SM_OUTPUT_DATA_DIR and
SM_NUM_CPUS when set, and runs the same code as `scones train`: the extracted artifact goes to
SM_MODEL_DIR (SageMaker packs it as model.tar.gz), our deterministic model.tar.gz and
training_report.json to SM_OUTPUT_DATA_DIR. Unknown hyperparameters are reported and ignored.
Works from the repo (`python training/train.py`) and as the root entry point of the SageMaker source
directory, where this file sits beside the training code set's packages (stacks/sourcedir.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _import_package() -> None:
    """Make `import training` (and the packages beside it) work when run as a script."""
    here = Path(__file__).resolve().parent
    root = here if (here / "training" / "__init__.py").is_file() else here.parent
    # Python puts the script's folder first on sys.path; in the repo that is training/, whose module
    # names (model, dataset, metrics, ...) must not shadow top-level imports of other packages.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here or here == root]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))


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
