"""The recipe's size and step count: one definition for the trainer and the stack's runtime estimate."""
from __future__ import annotations

import pytest

from scones_contracts import training_recipe as recipe
from training.trainer import TrainConfig


def test_the_trainer_takes_its_defaults_from_the_contract():
    config = TrainConfig()
    assert (config.width, config.epochs, config.batch_size, config.members, config.val_fraction, config.precision) == (
        recipe.DEFAULT_WIDTH, recipe.DEFAULT_EPOCHS, recipe.DEFAULT_BATCH_SIZE, recipe.DEFAULT_MEMBERS,
        recipe.DEFAULT_VAL_FRACTION, recipe.DEFAULT_PRECISION)


def test_work_of_reads_train_py_flags_in_either_spelling_with_the_defaults():
    default = recipe.work_of({}, 1000)
    assert default["steps"] == recipe.DEFAULT_EPOCHS * (800 // recipe.DEFAULT_BATCH_SIZE)
    assert (default["n_train"], default["precision"], default["threads"]) == (800, "auto", None)
    assert recipe.work_of({"batch_size": 32, "epochs": "2"}, 1000)["steps"] == 2 * (800 // 32)
    assert recipe.work_of({"batch-size": 32, "steps": 7, "epochs": 2}, 1000)["steps"] == 7
    assert recipe.work_of({"val-fraction": 0.5, "epochs": 1}, 1000)["steps"] == 500 // recipe.DEFAULT_BATCH_SIZE
    assert recipe.work_of({"threads": "3"}, 1000)["threads"] == 3


@pytest.mark.parametrize("hyperparameters, fragment", [
    ({"precision": "fp16"}, "'precision' = 'fp16'"),
    ({"epochs": "many"}, "'epochs' = 'many' is not a number"),
    ({"val_fraction": "nan"}, "not a finite number"),
])
def test_bad_values_are_named(hyperparameters, fragment):
    with pytest.raises(ValueError, match=fragment):
        recipe.work_of(hyperparameters, 1000)

