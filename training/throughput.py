"""Training speed per CPU instruction set: what the synth-time runtime check of the model stack reads.

SageMaker's CPU instance families differ in the instructions their Xeons have (AVX2 only; AVX-512;
AVX-512 VNNI; AVX-512 BF16 and AMX). This machine can stand in for each by capping oneDNN's ISA
(`ONEDNN_MAX_CPU_ISA`, and ATen's kernels with `ATEN_CPU_CAPABILITY` where AVX-512 is absent),
so `measure_profiles` runs the default recipe's real training step (`training.trainer.TrainStep`, its
width and batch size) in a child process per (ISA profile, precision) and records per step:

    wall_ms   wall-clock time (shared machine: inflated by other processes)
    cpu_ms    process CPU time, user + sys over all threads (the steadier figure of the work)

Each figure is the fastest of `repeats` timed blocks (the least disturbed one), with the load
average before and after. The per-profile rows use one thread: on a shared machine the CPU time of
one thread is close to the work itself, while two threads' CPU time also counts OpenMP workers
spinning while their sibling waits for a core. The speed-up of two threads is therefore measured
apart (`measure_speedup`), in a quiet moment: it waits until other processes use less than
QUIET_CORES of the CPUs, then times 1 and 2 threads back to back (wall clock) and checks the
machine was still quiet afterwards.

`python -m training.throughput --write` (or `scones bench-training --write`) stores the table in
`stacks/data/training_throughput.json`, where `stacks/training_runtime.py` turns it into a
runtime estimate per training instance type.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

# Instruction-set profiles: the oneDNN cap, ATen's kernel level, and the instance families they stand
# for (the processors the AWS instance-type pages name for each family).
ISA_PROFILES: dict[str, dict] = {
    "AVX2": {"env": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
             "stands_for": "Haswell/Broadwell Xeons: m4, c4, t2"},
    "AVX512_CORE": {"env": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
                    "stands_for": "Skylake-SP Xeons: m5, c5, r5, t3 (Cascade Lake adds VNNI: int8 only)"},
    "AVX512_CORE_VNNI": {"env": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_VNNI"},
                         "stands_for": "Cascade Lake and Ice Lake Xeons: m5, c5, r5 (newer hosts), m6i, c6i, r6i"},
    "AVX512_CORE_BF16": {"env": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"},
                         "stands_for": "native bf16 (this CPU's best level; Sapphire Rapids m7i/c7i add AMX, "
                                       "which is faster still)"},
}
TABLE_PATH = Path(__file__).resolve().parents[1] / "stacks" / "data" / "training_throughput.json"


def measure_in_process(precision: str, threads: int, steps: int, warmup: int = 3, repeats: int = 3,
                       width: int | None = None, batch_size: int | None = None) -> dict:
    """Time the recipe's training step here (the ISA caps must already be in this process's environment)."""
    import torch

    from training.precision import choose_precision
    from training.trainer import TrainConfig, TrainStep, deterministic_torch, new_network

    defaults = TrainConfig()
    config = replace(defaults, width=width or defaults.width, batch_size=batch_size or defaults.batch_size,
                     threads=threads, precision=precision)
    resolved = choose_precision(precision)
    with deterministic_torch(threads, resolved.device):
        generator = torch.Generator().manual_seed(1)
        images = torch.randn(config.batch_size, 3, 32, 32, generator=generator)
        targets = torch.randint(0, 2, (config.batch_size,), generator=generator).to(resolved.device)
        step = TrainStep(new_network(config, 0, resolved.device).train(), config, resolved, generator)
        for _ in range(warmup):
            step(images, targets, 0.05).item()
        blocks = []
        for _ in range(repeats):
            load = os.getloadavg()[0]
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                step(images, targets, 0.05).item()
            blocks.append({"wall_ms": 1000 * (time.perf_counter() - wall) / steps,
                           "cpu_ms": 1000 * (time.process_time() - cpu) / steps, "load_before": load,
                           "load_after": os.getloadavg()[0]})
    return {"precision": resolved.name, "precision_reason": resolved.reason, "threads": threads, "steps": steps,
            "repeats": repeats, "width": config.width, "batch_size": config.batch_size,
            "wall_ms": round(min(b["wall_ms"] for b in blocks), 1), "cpu_ms": round(min(b["cpu_ms"] for b in blocks), 1),
            "load": [round(min(b["load_before"] for b in blocks), 2), round(max(b["load_after"] for b in blocks), 2)]}


def measure_profile(profile: str, precision: str, threads: int, steps: int, repeats: int = 3,
                    python: str = sys.executable) -> dict:
    """One measurement in a child process whose environment caps the ISA to `profile`."""
    env = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA",
                                                            "ATEN_CPU_CAPABILITY")}
    env.update(ISA_PROFILES[profile]["env"])
    code = ("import json, sys; from training.throughput import measure_in_process; "
            f"print(json.dumps(measure_in_process({precision!r}, {threads}, {steps}, repeats={repeats})))")
    out = subprocess.run([python, "-c", code], env=env, cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, check=True)
    return {"profile": profile, **json.loads(out.stdout.strip().splitlines()[-1])}


QUIET_CORES = 0.25  # other processes' CPU use (in cores) below which the machine counts as quiet


def _busy_ticks() -> int:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values) - values[3] - values[4]  # everything but idle and iowait


def _own_ticks() -> int:
    """CPU ticks of this process and its finished children (the measuring children run one at a time)."""
    times = os.times()
    return round((times.user + times.system + times.children_user + times.children_system) * os.sysconf("SC_CLK_TCK"))


def others_cores(window: float = 5.0) -> float:
    """Cores used by every other process over the next `window` seconds (Linux /proc/stat)."""
    busy, own = _busy_ticks(), _own_ticks()
    time.sleep(window)
    return ((_busy_ticks() - busy) - (_own_ticks() - own)) / os.sysconf("SC_CLK_TCK") / window


def wait_for_quiet(max_wait_s: float, log: Callable[[str], None] = print) -> float | None:
    """Wait (polling) until others use under QUIET_CORES; their use then, or None if it never got quiet."""
    deadline = time.monotonic() + max_wait_s
    while True:
        used = others_cores()
        if used < QUIET_CORES:
            return used
        if time.monotonic() > deadline:
            return None
        log(f"waiting for a quiet moment: other processes use {used:.2f} cores")
        time.sleep(10)


def measure_speedup(precision: str, max_wait_s: float = 3600, profile: str = "AVX512_CORE_BF16",
                    log: Callable[[str], None] = print) -> dict:
    """Wall time per step on 1 and 2 threads, back to back in a quiet moment; speedup = wall(1) / wall(2)."""
    before = wait_for_quiet(max_wait_s, log)
    if before is None:
        return {"precision": precision, "quiet": False}
    one = measure_profile(profile, precision, 1, 15, repeats=2)
    two = measure_profile(profile, precision, 2, 15, repeats=2)
    after = others_cores(2.0)
    return {"precision": precision, "profile": profile, "quiet": after < QUIET_CORES,
            "others_cores": [round(before, 2), round(after, 2)], "wall_1_ms": one["wall_ms"],
            "cpu_1_ms": one["cpu_ms"], "wall_2_ms": two["wall_ms"], "cpu_2_ms": two["cpu_ms"],
            "speedup": round(one["wall_ms"] / two["wall_ms"], 3), "measured": time.strftime("%Y-%m-%d %H:%M")}


# bf16 emulated below AVX512_CORE_BF16 is slow (seconds per step at AVX2): fewer steps measure it well enough.
def default_steps(profile: str, precision: str) -> int:
    if precision == "bf16" and profile != "AVX512_CORE_BF16":
        return 4 if profile == "AVX2" else 8
    return 20


def measure_profiles(profiles: list[str], precisions: list[str], repeats: int = 3, quiet_wait_s: float = 3600,
                     log: Callable[[str], None] = print) -> dict:
    """The table: one 1-thread row per (profile, precision), the quiet 2-thread speed-up per precision,
    and where and how it was measured."""
    rows = []
    for profile in profiles:
        for precision in precisions:
            row = measure_profile(profile, precision, 1, default_steps(profile, precision), repeats)
            log(f"{profile:<17} {precision:<5} 1 thread: {row['wall_ms']:8.1f} ms wall, {row['cpu_ms']:8.1f} ms CPU "
                f"per step (load {row['load'][0]}-{row['load'][1]})")
            rows.append(row)
    speedup = {}
    for precision in precisions:
        speedup[precision] = measure_speedup(precision, quiet_wait_s, log=log)
        log(f"2 threads vs 1, {precision}: {speedup[precision]}")
    return {
        "what": f"one training step of the default recipe (ResNet-9 width {rows[0]['width'] if rows else '?'}, batch "
                f"{rows[0]['batch_size'] if rows else '?'}, CutMix, SGD) per ISA profile",
        "method": "child process per row with ONEDNN_MAX_CPU_ISA (and ATEN_CPU_CAPABILITY=avx2 for AVX2) set; "
                  "fastest of `repeats` timed blocks after 3 warm-up steps; cpu_ms = process CPU time (user+sys, "
                  "all threads) per step on 1 thread; speedup = wall time of 1 thread / 2 threads, timed back to "
                  "back while other processes used under 0.25 cores",
        "speedup": speedup,
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()},
        "measured": time.strftime("%Y-%m-%d"),
        "profiles": {name: ISA_PROFILES[name]["stands_for"] for name in profiles},
        "rows": rows,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="training step time per ISA profile")
    parser.add_argument("--profiles", default=",".join(ISA_PROFILES))
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quiet-wait", type=float, default=3600, help="seconds to wait for a quiet moment")
    parser.add_argument("--write", action="store_true", help=f"store the table in {TABLE_PATH}")
    args = parser.parse_args(argv)
    table = measure_profiles(args.profiles.split(","), args.precisions.split(","), args.repeats, args.quiet_wait,
                             log=lambda m: print(m, file=sys.stderr, flush=True))
    if args.write:
        TABLE_PATH.parent.mkdir(parents=True, exist_ok=True)
        TABLE_PATH.write_text(json.dumps(table, indent=1) + "\n")
        print(f"wrote {TABLE_PATH}", file=sys.stderr)
    print(json.dumps(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
