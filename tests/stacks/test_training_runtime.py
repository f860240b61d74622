"""Synth refuses a training instance type the training cannot finish on within its maximum runtime.

The arithmetic is checked against a hand-made table; the measured table (stacks/data/
training_throughput.json) is checked for coverage and for the README's claims about it."""
from __future__ import annotations

import botocore.session
import pytest
from aws_cdk import App

from scones_contracts.training_recipe import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_WIDTH
from stacks import training_runtime as rt
from stacks.config import ConfigurationError, SconesConfig
from stacks.training_job import WAIT_BUDGET_SECONDS
from training.precision import native_cpu_bf16

N_IMAGES = 1000  # the shipped sample: 800 train / 200 held out -> 12 steps per epoch at batch 64


def table(cpu_ms: dict[tuple[str, str], float], speedup: float = 1.6, width: int = DEFAULT_WIDTH,
          batch_size: int = DEFAULT_BATCH_SIZE) -> dict:
    """A throughput table with 1-thread CPU ms per (profile, precision), measured at `width` and
    `batch_size`, and the given 2-thread speed-up."""
    rows = {(profile, precision, 1): {"cpu_ms": ms, "width": width, "batch_size": batch_size}
            for (profile, precision), ms in cpu_ms.items()}
    quiet = {precision: {"quiet": True, "speedup": speedup} for precision in ("fp32", "bf16")}
    return {"rows": rows, "document": {"speedup": quiet}}


PROFILES = ("AVX2", "AVX512_CORE", "AVX512_CORE_VNNI", "AVX512_CORE_BF16")
# 400 ms per fp32 step everywhere; bf16 900 ms where emulated, 200 ms where native
FAKE = table({**{(p, "fp32"): 400.0 for p in PROFILES}, **{(p, "bf16"): 900.0 for p in PROFILES[:3]},
              ("AVX512_CORE_BF16", "bf16"): 200.0})


def config(**values) -> SconesConfig:
    return SconesConfig.from_mapping(values)


def test_the_estimate_is_steps_times_step_time_on_the_instances_cores():
    default = rt.estimate(config(), N_IMAGES, "ml.m5.xlarge", FAKE)  # 4 vCPUs = 2 cores, AVX-512 without bf16
    steps = DEFAULT_EPOCHS * 12
    assert (default.profile, default.precision, default.cores, default.steps) == ("AVX512_CORE", "fp32", 2.0, steps)
    assert default.step_seconds == pytest.approx(0.4 / 1.6)
    assert default.seconds == pytest.approx(rt.FIXED_ALLOWANCE_SECONDS + steps * 0.4 / 1.6)
    one_core = rt.estimate(config(), N_IMAGES, "ml.m5.large", FAKE)
    assert one_core.cores == 1.0 and one_core.step_seconds == pytest.approx(0.4)
    assert rt.estimate(config(), N_IMAGES, "ml.m5.24xlarge", FAKE).step_seconds == default.step_seconds  # no credit > 2
    bigger = config(training_hyperparameters={"width": 4 * DEFAULT_WIDTH, "batch_size": 128, "members": 2, "steps": 100})
    wide = rt.estimate(bigger, N_IMAGES, "ml.m5.xlarge", FAKE)
    assert wide.seconds == pytest.approx(rt.FIXED_ALLOWANCE_SECONDS + 2 * 100 * (0.4 / 1.6) * 16 * 2)


def test_the_step_time_scales_from_the_width_and_batch_the_table_was_measured_at():
    measured_at_32 = table({("AVX512_CORE", "fp32"): 400.0}, width=32, batch_size=64)
    at = {w: rt.estimate(config(training_hyperparameters={"width": w, "steps": 100}), N_IMAGES, "ml.m5.xlarge",
                         measured_at_32) for w in (16, 32, 64)}
    assert at[32].scale == 1.0
    assert at[64].scale == 4.0  # wider: the convolutions' square
    assert at[16].scale == 0.5  # narrower: linear (measured 0.31-0.34, not the square's 0.25): errs slow
    half_batch = config(training_hyperparameters={"width": 32, "batch_size": 32, "steps": 100})
    assert rt.estimate(half_batch, N_IMAGES, "ml.m5.xlarge", measured_at_32).scale == 0.5


def test_auto_precision_is_bf16_only_on_families_with_native_bf16_and_forced_precision_is_honoured():
    assert rt.estimate(config(), N_IMAGES, "ml.m7i.xlarge", FAKE).precision == "bf16"
    assert rt.estimate(config(), N_IMAGES, "ml.c6i.xlarge", FAKE).precision == "fp32"
    forced = config(training_hyperparameters={"precision": "bf16"})
    assert rt.estimate(forced, N_IMAGES, "ml.m4.xlarge", FAKE).precision == "bf16"


def test_the_family_table_agrees_with_the_runtime_precision_rule():
    """What the stack assumes 'auto' picks on a family is what training.precision picks under its ISA cap."""
    for family, (profile, native, _) in rt.FAMILY_CPUS.items():
        runtime_native, _ = native_cpu_bf16({"ONEDNN_MAX_CPU_ISA": profile}, lambda: ["avx512_bf16"])
        assert runtime_native == native, family


def test_burstable_t3_counts_only_its_baseline_and_threads_cap_the_cores():
    assert rt.physical_cores("ml.t3.medium") == pytest.approx(1 * 0.2)
    assert rt.physical_cores("ml.t3.2xlarge") == pytest.approx(4 * 0.4)
    one_thread = rt.estimate(config(training_hyperparameters={"threads": 1}), N_IMAGES, "ml.m5.4xlarge", FAKE)
    assert one_thread.cores == 1


def test_a_training_that_cannot_finish_is_refused_naming_the_estimate_and_what_to_do():
    # the case: bf16 (emulated) on an AVX2 family with the default recipe
    slow = config(training_instance_type="ml.m4.xlarge", training_hyperparameters={"precision": "bf16", "epochs": 240})
    with pytest.raises(ConfigurationError) as err:
        rt.check_training_fits(slow, N_IMAGES, WAIT_BUDGET_SECONDS, FAKE)
    message = str(err.value)
    assert "'training_instance_type' = 'ml.m4.xlarge'" in message
    assert "estimated 1 x 2880 steps" in message and "bf16, AVX2" in message and "safety margin" in message
    assert "drop precision=bf16" in message and "fewer epochs/steps" in message
    assert "choose ml.m5.xlarge" not in message  # m5 emulates bf16 too: no remedy that would not fit
    burstable = config(training_instance_type="ml.t3.medium", training_hyperparameters={"epochs": 240})
    with pytest.raises(ConfigurationError, match=r"choose ml.m5.xlarge \(estimated 13.0 min\)"):
        rt.check_training_fits(burstable, N_IMAGES, WAIT_BUDGET_SECONDS, FAKE)


def test_the_budget_is_the_lesser_of_max_runtime_and_the_deploy_wait():
    budget, source = rt.runtime_budget_seconds(config(), WAIT_BUDGET_SECONDS)
    assert budget == WAIT_BUDGET_SECONDS - rt.STARTUP_ALLOWANCE_SECONDS and "deploy's wait" in source
    short = config(training_max_runtime_minutes=5, training_hyperparameters={"epochs": 100})
    assert rt.runtime_budget_seconds(short, WAIT_BUDGET_SECONDS) == (300, "training_max_runtime_minutes = 5")
    with pytest.raises(ConfigurationError, match="training_max_runtime_minutes = 5"):
        rt.check_training_fits(short, N_IMAGES, WAIT_BUDGET_SECONDS, FAKE)


@pytest.mark.parametrize("instance_type, fragment", [
    ("ml.g5.xlarge", "PyTorch CPU image"),
    ("ml.p3.2xlarge", "PyTorch CPU image"),
    ("ml.t2.medium", "SageMaker training does not offer it"),
    ("ml.m5d.xlarge", "SageMaker training does not offer it"),
    ("ml.c5.large", "SageMaker training does not offer it"),
])
def test_types_sagemaker_cannot_train_on_usefully_are_refused(instance_type, fragment):
    with pytest.raises(ConfigurationError, match=fragment):
        rt.check_training_fits(config(training_instance_type=instance_type), N_IMAGES, WAIT_BUDGET_SECONDS, FAKE)


def test_bad_hyperparameter_numbers_are_refused_by_name():
    with pytest.raises(ConfigurationError, match="'epochs' = 'many' is not a number"):
        rt.estimate(config(training_hyperparameters={"epochs": "many"}), N_IMAGES, "ml.m5.xlarge", FAKE)


def test_every_covered_type_is_a_sagemaker_training_instance_type():
    model = botocore.session.get_session().get_service_model("sagemaker")
    offered = set(model.shape_for("TrainingInstanceType").enum)
    assert set(rt.training_instance_types()) <= offered
    assert rt.vcpus("ml.c4.8xlarge") == 36 and rt.vcpus("ml.m5.xlarge") == 4 and rt.vcpus("ml.c5.9xlarge") == 36


# ------------------------------------------------------------------ the measured table and the real synth

def test_the_measured_table_covers_every_family_and_precision():
    measured = rt.throughput_table()
    for profile, _, _ in rt.FAMILY_CPUS.values():
        for precision in ("fp32", "bf16"):
            assert measured["rows"][(profile, precision, 1)]["cpu_ms"] > 0, (profile, precision)
    for precision in ("fp32", "bf16"):
        assert 1.0 <= rt.two_thread_speedup(measured, precision) <= 2.0
    assert measured["document"]["method"] and measured["document"]["measured"]


def test_an_unmeasured_or_disturbed_speedup_is_not_credited():
    unquiet = {"rows": FAKE["rows"], "document": {"speedup": {"fp32": {"quiet": False, "speedup": 1.9}}}}
    assert rt.two_thread_speedup(unquiet, "fp32") == 1.0 and rt.two_thread_speedup(unquiet, "bf16") == 1.0
    assert rt.step_seconds("AVX512_CORE", "fp32", 2, unquiet) == pytest.approx(0.4)


def test_with_the_measured_table_the_default_trains_in_minutes_and_emulated_bf16_is_slower():
    default = rt.check_training_fits(config(), N_IMAGES, WAIT_BUDGET_SECONDS)
    assert default.instance_type == "ml.m5.xlarge" and default.precision == "fp32"
    assert default.seconds < 25 * 60  # minutes, even with one-thread CPU times measured under load
    for profile in ("AVX2", "AVX512_CORE", "AVX512_CORE_VNNI"):
        assert rt.step_seconds(profile, "bf16", 1) > rt.step_seconds(profile, "fp32", 1), profile


def test_synth_refuses_the_instance_type_before_building_anything():
    from stacks.app_builder import build_app

    app = App(context={"training_instance_type": "ml.m4.xlarge",
                       "training_hyperparameters": '{"precision": "bf16", "epochs": 240}'})
    with pytest.raises(ConfigurationError, match="training_instance_type.*cannot be expected to finish"):
        build_app(app)

