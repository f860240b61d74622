"""Precision from the hardware's real capability: bf16 only where it is native, on the CPU or on CUDA."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from training.precision import ONEDNN_ISAS, NATIVE_BF16_ISA, choose_precision, cpu_flags, native_cpu_bf16

NATIVE = lambda: ["avx512_bf16"]  # noqa: E731  a CPU that has it
NONE = lambda: []  # noqa: E731  a CPU that has neither avx512_bf16 nor AMX
NO_CUDA = lambda: False  # noqa: E731


def cpu(environ, features):
    return lambda _env: native_cpu_bf16(environ, features)


def test_auto_uses_bf16_where_the_cpu_computes_it_natively():
    chosen = choose_precision("auto", cuda_available=NO_CUDA, cpu_bf16=cpu({}, NATIVE))
    assert (chosen.device, chosen.name) == ("cpu", "bf16")
    assert "avx512_bf16" in chosen.reason


@pytest.mark.parametrize("cap", ["AVX512_CORE_VNNI", "avx512_core", "AVX2"])
def test_auto_uses_fp32_when_onednn_is_capped_below_native_bf16(cap):
    """ml.m5 (AVX-512 without bf16) and m4/c4 (AVX2) as the ISA caps approximate them."""
    chosen = choose_precision("auto", cuda_available=NO_CUDA, cpu_bf16=cpu({"ONEDNN_MAX_CPU_ISA": cap}, NATIVE))
    assert chosen.name == "fp32"
    assert cap.upper() in chosen.reason and "emulated" in chosen.reason


def test_auto_uses_fp32_on_a_cpu_without_bf16_and_with_an_unknown_cap():
    assert choose_precision("auto", cuda_available=NO_CUDA, cpu_bf16=cpu({}, NONE)).name == "fp32"
    unknown = choose_precision("auto", cuda_available=NO_CUDA, cpu_bf16=cpu({"DNNL_MAX_CPU_ISA": "AVX9"}, NATIVE))
    assert unknown.name == "fp32" and "unrecognised" in unknown.reason


def test_caps_at_or_above_native_bf16_keep_it():
    for cap in ONEDNN_ISAS[ONEDNN_ISAS.index(NATIVE_BF16_ISA):]:
        assert native_cpu_bf16({"ONEDNN_MAX_CPU_ISA": cap}, NATIVE)[0], cap


def test_forced_precision_is_honoured_and_says_why():
    forced = choose_precision("bf16", cuda_available=NO_CUDA, cpu_bf16=cpu({"ONEDNN_MAX_CPU_ISA": "AVX2"}, NATIVE))
    assert forced.name == "bf16" and forced.reason.startswith("bf16 as requested")
    assert choose_precision("fp32", cuda_available=NO_CUDA, cpu_bf16=cpu({}, NATIVE)).name == "fp32"
    with pytest.raises(ValueError, match="precision must be one of"):
        choose_precision("fp16")


def test_cuda_is_used_when_available_with_bf16_only_on_capable_gpus():
    ampere = choose_precision("auto", cuda_available=lambda: True, cuda_bf16=lambda: (True, "A10G (compute capability 8.6)"))
    assert (ampere.device, ampere.name) == ("cuda", "bf16")
    turing = choose_precision("auto", cuda_available=lambda: True, cuda_bf16=lambda: (False, "T4 (compute capability 7.5)"))
    assert (turing.device, turing.name) == ("cuda", "fp32")


def test_this_machine_agrees_with_its_own_cpu_flags():
    flags = cpu_flags()
    native, reason = native_cpu_bf16({})
    assert native == bool({"avx512_bf16", "amx_bf16"} & flags), reason


def _train_precision(tmp_path, env_cap: str | None) -> dict:
    """A real `scones train` (2 steps, width 4) in a child process; the metadata's precision block."""
    env = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")}
    if env_cap:
        env["ONEDNN_MAX_CPU_ISA"] = env_cap
    out = subprocess.run([sys.executable, "-m", "scones.cli", "train", "--model-dir", str(tmp_path), "--steps", "2",
                          "--width", "4", "--threads", "1"], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])["precision"]


def test_training_under_an_m5_like_isa_cap_runs_in_fp32(tmp_path):
    precision = _train_precision(tmp_path, "AVX512_CORE_VNNI")
    assert precision["requested"] == "auto" and precision["autocast"] == "fp32"
    assert "AVX512_CORE_VNNI" in precision["reason"]


@pytest.mark.skipif(not native_cpu_bf16({})[0], reason="this CPU has no native bf16")
def test_training_on_a_native_bf16_cpu_runs_in_bf16(tmp_path):
    assert _train_precision(tmp_path, None)["autocast"] == "bf16"
