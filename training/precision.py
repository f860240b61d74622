"""Which device and numeric precision a training run uses, chosen from what the hardware really does.

bf16 autocast only pays where bf16 is computed natively. Where it is not, oneDNN emulates it and a
training step takes 2-20 times longer than in fp32 (README "Training time per instance family":
measured under `ONEDNN_MAX_CPU_ISA` caps). So "auto" (the default) chooses:

    CUDA available   cuda, bf16 if the GPU computes it natively (compute capability 8.0+), else fp32
    CPU              bf16 if the CPU has avx512_bf16 or AMX tiles (torch's own cpuinfo checks, else
                     /proc/cpuinfo's flags) AND oneDNN is allowed to use them: an `ONEDNN_MAX_CPU_ISA`
                     (or `DNNL_MAX_CPU_ISA`) below AVX512_CORE_BF16 means emulation; otherwise fp32

"bf16" and "fp32" force the choice (on the device "auto" would use). The decision and its reason are
logged and recorded in the artifact's metadata (`precision`).
"""
from __future__ import annotations

import os
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import torch

from scones_contracts.training_recipe import PRECISIONS

# oneDNN's CPU ISA names, lowest to highest (dnnl::cpu_isa); the first with native bf16 dot products
# is AVX512_CORE_BF16. Older spellings are aliases of the same levels.
ONEDNN_ISAS = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI",
               "AVX512_CORE_BF16", "AVX10_1_512", "AVX512_CORE_FP16", "AVX10_1_512_AMX", "AVX512_CORE_AMX",
               "AVX10_1_512_AMX_FP16", "AVX512_CORE_AMX_FP16", "AVX10_2_512", "AVX10_2_512_AMX_2", "ALL")
NATIVE_BF16_ISA = "AVX512_CORE_BF16"
ISA_CAP_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")


@dataclass(frozen=True)
class Precision:
    """A resolved choice: the device, whether to autocast to bf16, and why."""
    device: str  # "cpu" or "cuda"
    bf16: bool
    reason: str
    requested: str = "auto"

    @property
    def name(self) -> str:
        return "bf16" if self.bf16 else "fp32"

    def autocast(self) -> AbstractContextManager:
        """The autocast context of one forward pass (a no-op context in fp32)."""
        return torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.bf16)

    def as_metadata(self) -> dict:
        return {"requested": self.requested, "device": self.device, "autocast": self.name, "reason": self.reason}

    def describe(self) -> str:
        return f"{self.name} on {self.device} ({self.reason})"


def isa_cap(environ: Mapping[str, str]) -> str | None:
    """The oneDNN ISA cap set in the environment, upper-cased (None when uncapped)."""
    for name in ISA_CAP_VARIABLES:
        value = (environ.get(name) or "").strip().upper()
        if value:
            return value
    return None


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_bf16_features() -> list[str]:
    """The native bf16 features this CPU has: torch's checks where present, else the kernel's flags."""
    found = []
    checks = (("avx512_bf16", "_is_avx512_bf16_supported"), ("amx_bf16", "_is_amx_tile_supported"))
    flags: set[str] | None = None
    for feature, check in checks:
        probe = getattr(torch.cpu, check, None)
        if probe is not None:
            supported = bool(probe())
        else:  # torch builds without the check (older than the SageMaker image's 2.6 never lacked it)
            flags = cpu_flags() if flags is None else flags
            supported = feature in flags
        if supported:
            found.append(feature)
    return found


def native_cpu_bf16(environ: Mapping[str, str] | None = None,
                    features: Callable[[], list[str]] = cpu_bf16_features) -> tuple[bool, str]:
    """(native bf16 on this CPU as oneDNN may use it, the reason in words)."""
    environ = os.environ if environ is None else environ
    present = features()
    if not present:
        return False, "the CPU has neither avx512_bf16 nor AMX: oneDNN would emulate bf16"
    cap = isa_cap(environ)
    if cap is not None:
        if cap not in ONEDNN_ISAS:
            return False, f"unrecognised ONEDNN_MAX_CPU_ISA={cap}: not assuming native bf16"
        if ONEDNN_ISAS.index(cap) < ONEDNN_ISAS.index(NATIVE_BF16_ISA):
            return False, f"ONEDNN_MAX_CPU_ISA={cap} keeps oneDNN below {NATIVE_BF16_ISA}: bf16 would be emulated"
    return True, f"the CPU computes bf16 natively ({', '.join(present)})"


def cuda_native_bf16() -> tuple[bool, str]:
    """(the current CUDA device computes bf16 natively, the reason)."""
    major, minor = torch.cuda.get_device_capability()
    name = torch.cuda.get_device_name()
    if major >= 8:
        return True, f"{name} (compute capability {major}.{minor}) computes bf16 natively"
    return False, f"{name} (compute capability {major}.{minor}) has no native bf16"


def choose_precision(requested: str = "auto", environ: Mapping[str, str] | None = None,
                     cuda_available: Callable[[], bool] = torch.cuda.is_available,
                     cpu_bf16: Callable[[Mapping[str, str] | None], tuple[bool, str]] | None = None,
                     cuda_bf16: Callable[[], tuple[bool, str]] = cuda_native_bf16) -> Precision:
    """Resolve `requested` ("auto", "bf16" or "fp32") on this machine; raises ValueError for anything else."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    if cuda_available():
        device, (native, why) = "cuda", cuda_bf16()
    else:
        device, (native, why) = "cpu", (cpu_bf16 or native_cpu_bf16)(environ)
    if requested == "auto":
        return Precision(device, native, ("bf16 autocast: " if native else "fp32: ") + why, requested)
    return Precision(device, requested == "bf16", f"{requested} as requested; {why}", requested)
