"""Will the training job finish in time? A synth-time estimate per training instance type, and the refusal.

A SageMaker training job that outlives MaxRuntimeInSeconds is stopped, and one that outlives the
deploy's wait (the Provider framework's hour, less start-up) fails the deploy. So synth refuses a
`training_instance_type` whose estimated training time, with a safety margin, exceeds either.

The estimate (`estimate`):

    seconds = allowance + members x steps x step time x width scale x (batch / measured batch)

* steps, members, width, batch, precision: train.py's flags from `training_hyperparameters`
  with the recipe's defaults (`scones_contracts.training_recipe.work_of`) on the shipped data.
* step time: measured for the default recipe's step (its width and batch) on one core under the ISA cap
  that stands for the family's Xeons (`stacks/data/training_throughput.json`, written by
  `scones bench-training --write`): process CPU time per step on 1 thread, divided by the
  speed-up of 2 threads (measured on this machine's own ISA in a quiet moment, assumed the same
  under every cap) for 2 or more physical cores. vCPUs are hyperthreads, so an
  instance has vCPUs / 2 cores. Nothing beyond 2 cores is credited (not measured here).
  Burstable t3 is estimated at its baseline CPU share (no launch credits, no unlimited mode).
* width scale (`width_scale`): 1 at the measured width; (width / measured)^2 for a wider network
  (the convolutions, which grow with the square, dominate a step); width / measured for a narrower
  one, because a step's memory-bound work (BatchNorm, ReLU, pooling) shrinks only linearly (measured
  here: a width-16 step costs 0.31-0.34 of a width-32 step, not 0.25). Both err slow.
* precision: what train.py's "auto" chooses there (`training.precision`): bf16 only on families
  whose CPUs compute it natively (m7i, c7i), fp32 elsewhere; a forced `precision` is honoured.
* SAFETY_FACTOR covers what an ISA cap does not reproduce (another CPU's clock, caches and memory).

Families SageMaker does not train on (CreateTrainingJob's TrainingInstanceType enum: no t2, m5d,
c5d, m6id) and GPU families (the training image is the PyTorch CPU image; a GPU would sit idle)
are refused with what to choose instead.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from scones_contracts.env import ConfigurationError
from scones_contracts.training_recipe import work_of

from .config import SconesConfig
from .config_groups import GPU_INSTANCE_FAMILIES

THROUGHPUT_TABLE = Path(__file__).resolve().parent / "data" / "training_throughput.json"
SAFETY_FACTOR = 2.0
STARTUP_ALLOWANCE_SECONDS = 600  # instance provisioning + image download, inside the deploy's wait (assumed)
FIXED_ALLOWANCE_SECONDS = 60  # decoding the images, calibration, writing the artifact (a few s measured here)
DEFAULT_SUGGESTION = "ml.m5.xlarge"

# Family -> (ISA profile of its CPUs, native bf16, baseline CPU share or None when not burstable).
FAMILY_CPUS: dict[str, tuple[str, bool, dict[str, float] | None]] = {
    "m4": ("AVX2", False, None),
    "c4": ("AVX2", False, None),
    "m5": ("AVX512_CORE", False, None),
    "c5": ("AVX512_CORE", False, None),
    "r5": ("AVX512_CORE", False, None),
    "t3": ("AVX512_CORE", False, {"medium": 0.2, "large": 0.3, "xlarge": 0.4, "2xlarge": 0.4}),
    "m6i": ("AVX512_CORE_VNNI", False, None),
    "c6i": ("AVX512_CORE_VNNI", False, None),
    "r6i": ("AVX512_CORE_VNNI", False, None),
    "m7i": ("AVX512_CORE_BF16", True, None),
    "c7i": ("AVX512_CORE_BF16", True, None),
}
# The sizes SageMaker training offers per family (botocore's TrainingInstanceType) and their vCPUs.
_VCPUS = {"medium": 2, "large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "9xlarge": 36,
          "10xlarge": 40, "12xlarge": 48, "16xlarge": 64, "18xlarge": 72, "24xlarge": 96, "32xlarge": 128,
          "48xlarge": 192}
TRAINING_SIZES: dict[str, tuple[str, ...]] = {
    "m4": ("xlarge", "2xlarge", "4xlarge", "10xlarge", "16xlarge"),
    "c4": ("xlarge", "2xlarge", "4xlarge", "8xlarge"),
    "m5": ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"),
    "c5": ("xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"),
    "r5": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge"),
    "t3": ("medium", "large", "xlarge", "2xlarge"),
    "m6i": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"),
    "c6i": ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"),
    "r6i": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"),
    "m7i": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"),
    "c7i": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"),
}
VCPU_EXCEPTIONS = {"ml.c4.8xlarge": 36}


def training_instance_types() -> list[str]:
    """Every training instance type the estimate covers."""
    return [f"ml.{family}.{size}" for family, sizes in TRAINING_SIZES.items() for size in sizes]


def vcpus(instance_type: str) -> int:
    _, family, size = instance_type.split(".")
    return VCPU_EXCEPTIONS.get(instance_type, _VCPUS[size])


@lru_cache(maxsize=4)
def throughput_table(path: Path = THROUGHPUT_TABLE) -> dict:
    """The measured table; {(profile, precision, threads): row}, plus the document itself."""
    document = json.loads(Path(path).read_text())
    return {"document": document,
            "rows": {(r["profile"], r["precision"], r["threads"]): r for r in document["rows"]}}


@dataclass(frozen=True)
class Estimate:
    """The estimated training time of one configuration on one instance type, and how it was reached."""
    instance_type: str
    profile: str
    precision: str
    cores: float
    step_seconds: float  # one step of the measured size (the table's width and batch) on this instance
    steps: int
    members: int
    scale: float  # width_scale x (batch / measured batch)
    seconds: float  # without the safety factor

    @property
    def with_margin(self) -> float:
        return self.seconds * SAFETY_FACTOR

    def describe(self) -> str:
        return (f"{self.members} x {self.steps} steps at {self.step_seconds * self.scale:.2f} s per step "
                f"({self.precision}, {self.profile}, {self.cores:g} core(s)) + {FIXED_ALLOWANCE_SECONDS} s "
                f"= {_minutes(self.seconds)}")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _refuse(key: str, value, allowed: str) -> ConfigurationError:
    return ConfigurationError(f"config key '{key}' = {value!r} is invalid: {allowed}")


def physical_cores(instance_type: str) -> float:
    """Cores the training can count on: vCPUs / 2 (hyperthreads), times the baseline share on burstable t3."""
    _, family, size = instance_type.split(".")
    cores = vcpus(instance_type) / 2
    burst = FAMILY_CPUS[family][2]
    return cores * burst[size] if burst else cores


def two_thread_speedup(table: dict, precision: str) -> float:
    """The measured speed-up of 2 threads over 1 (quiet machine), within [1, 2]; 1 when not measured."""
    measured = table["document"].get("speedup", {}).get(precision, {})
    return min(2.0, max(1.0, measured["speedup"])) if measured.get("quiet") else 1.0


def step_seconds(profile: str, precision: str, cores: float, table: dict | None = None) -> float:
    """Seconds per default-size training step on `cores` cores of the profile's CPUs (measured table)."""
    table = table or throughput_table()
    one = table["rows"][(profile, precision, 1)]["cpu_ms"] / 1000
    speedup = two_thread_speedup(table, precision)
    if cores <= 1:
        return one / cores
    return one / (1 + (speedup - 1) * min(1.0, cores - 1))


def width_scale(width: int, measured_width: int) -> float:
    """A step's cost at `width` relative to one at `measured_width` (see the module docstring)."""
    ratio = width / measured_width
    return ratio ** 2 if ratio >= 1 else ratio


def measured_size(profile: str, precision: str, table: dict | None = None) -> tuple[int, int]:
    """(width, batch size) the table's row was measured at (every row records them)."""
    row = (table or throughput_table())["rows"][(profile, precision, 1)]
    return int(row["width"]), int(row["batch_size"])


def estimate(config: SconesConfig, n_images: int, instance_type: str | None = None,
             table: dict | None = None) -> Estimate:
    """The training time of `config`'s hyperparameters on `instance_type` (default: the configured one)."""
    instance_type = instance_type or config.training.instance_type
    family = instance_type.split(".")[1]
    hyperparameters = config.training.hyperparameters
    try:
        work = work_of(hyperparameters, n_images)
    except ValueError as exc:
        raise _refuse("training_hyperparameters", hyperparameters, str(exc)) from None
    profile, native_bf16, _ = FAMILY_CPUS[family]
    precision = work["precision"] if work["precision"] != "auto" else ("bf16" if native_bf16 else "fp32")
    cores = physical_cores(instance_type)
    if work["threads"] is not None:
        cores = min(cores, max(1, work["threads"]))
    step = step_seconds(profile, precision, cores, table)
    measured_width, measured_batch = measured_size(profile, precision, table)
    scale = width_scale(work["width"], measured_width) * (work["batch_size"] / measured_batch)
    seconds = FIXED_ALLOWANCE_SECONDS + work["members"] * work["steps"] * step * scale
    return Estimate(instance_type, profile, precision, cores, step, work["steps"], work["members"], scale, seconds)


def runtime_budget_seconds(config: SconesConfig, wait_budget_seconds: int) -> tuple[float, str]:
    """The time a training may take: the lesser of MaxRuntimeInSeconds and the deploy's wait less start-up."""
    max_runtime = config.training.max_runtime_minutes * 60
    deploy_wait = wait_budget_seconds - STARTUP_ALLOWANCE_SECONDS
    if max_runtime <= deploy_wait:
        return max_runtime, f"training_max_runtime_minutes = {config.training.max_runtime_minutes}"
    return deploy_wait, (f"the deploy's wait for the job ({_minutes(wait_budget_seconds)}: CloudFormation waits at most "
                         f"an hour for a custom resource) less {_minutes(STARTUP_ALLOWANCE_SECONDS)} for start-up")


def check_training_fits(config: SconesConfig, n_images: int, wait_budget_seconds: int,
                        table: dict | None = None) -> Estimate:
    """The estimate for the configured training instance type; raises ConfigurationError when SageMaker
    cannot train there or the estimate (x SAFETY_FACTOR) exceeds the runtime budget."""
    instance_type = config.training.instance_type
    family = instance_type.split(".")[1]
    key = "training_instance_type"
    if family in GPU_INSTANCE_FAMILIES:
        raise _refuse(key, instance_type, "the training job runs the SageMaker PyTorch CPU image, so a GPU instance "
                      f"would train on its host CPUs and leave the GPU idle; choose a CPU family, e.g. "
                      f"{DEFAULT_SUGGESTION}")
    if family not in TRAINING_SIZES or instance_type not in training_instance_types():
        offered = ", ".join(f"ml.{f}.{{{','.join(s)}}}" for f, s in TRAINING_SIZES.items())
        raise _refuse(key, instance_type, f"SageMaker training does not offer it, or this project has no training-time "
                      f"estimate for it; allowed: {offered}")
    result = estimate(config, n_images, table=table)
    budget, source = runtime_budget_seconds(config, wait_budget_seconds)
    if result.with_margin > budget:
        raise _refuse(key, instance_type,
                      f"the training cannot be expected to finish in time: estimated {result.describe()}, x "
                      f"{SAFETY_FACTOR:g} safety margin = {_minutes(result.with_margin)}, over the "
                      f"{_minutes(budget)} allowed by {source}. {_what_to_do(config, n_images, result, budget, table)}")
    return result


def _what_to_do(config: SconesConfig, n_images: int, result: Estimate, budget: float, table: dict | None) -> str:
    """The remedies that would fit, with their estimates."""
    remedies = []
    hyperparameters = config.training.hyperparameters
    if result.precision == "bf16" and not FAMILY_CPUS[result.instance_type.split(".")[1]][1]:
        auto = {k: v for k, v in hyperparameters.items() if k != "precision"}
        fixed = estimate(config.with_overrides(training_hyperparameters=auto), n_images, table=table)
        if fixed.with_margin <= budget:
            remedies.append(f"drop precision=bf16 from training_hyperparameters: these CPUs only emulate bf16, and "
                            f"'auto' trains in fp32 here (estimated {_minutes(fixed.seconds)})")
    if result.instance_type != DEFAULT_SUGGESTION:
        other = estimate(config, n_images, DEFAULT_SUGGESTION, table)
        if other.with_margin <= budget:
            remedies.append(f"choose {DEFAULT_SUGGESTION} (estimated {_minutes(other.seconds)})")
    remedies.append("shorten the training (fewer epochs/steps in training_hyperparameters)")
    if budget == config.training.max_runtime_minutes * 60:  # the configured limit, not the deploy's wait
        remedies.append("raise training_max_runtime_minutes")
    return "To fix: " + "; or ".join(remedies) + "."
