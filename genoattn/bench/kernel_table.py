"""Per-kernel GPU time of one attention call (torch.profiler), for finding where a pattern's time goes.

    python -m genoattn.bench.kernel_table --patterns longformer dilated --length 65536 [--backend triton_band]
        [--sweep]

Prints, per pattern and mode (fwd, fwdbwd), the GPU kernels of 10 calls sorted by total time (per call), the
host time per call, each tile option's time in the autotuner's runs, and the tiles it chose. ``--sweep``
(Triton backends): then times the whole forward+backward call with each tile option of each kernel pinned in
turn (the others at the autotuner's choice), to check the choice made on isolated kernel runs in context.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from genoattn.attention.dispatch import get_backend
from genoattn.attention.patterns import Pattern
from genoattn.bench.attention import mask_pattern, time_call


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--patterns", nargs="+", default=["longformer"])
    p.add_argument("--length", type=int, default=65536)
    p.add_argument("--backend", default="triton_band")
    p.add_argument("--rows", type=int, default=12)
    p.add_argument("--sweep", action="store_true")
    args = p.parse_args()
    backend = get_backend(args.backend)
    from genoattn.attention.kernels.launch import best_configs

    for name in args.patterns:
        known = set(best_configs)
        table(name, mask_pattern(name), backend, args.length, args.rows)
        if args.sweep:
            sweep(name, mask_pattern(name), backend, args.length, [key for key in best_configs if key not in known])
    if args.backend.startswith("triton_"):  # the tiles the autotuner chose, per kernel and shape
        for key, config in best_configs.items():
            print(f"tiles {key[0]} {key[3]} flags={key[4:]}: {config}")


def profiled(fn, repeats: int = 10, host: bool = False):
    """torch.profiler over ``repeats`` calls of ``fn``, after three warm-up calls: GPU kernels, and host
    operations too with ``host``."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA, *([ProfilerActivity.CPU] if host else [])]) as prof:
        for _ in range(repeats):
            fn()
        torch.cuda.synchronize()
    return prof


def kernel_ms(fn, repeats: int = 10) -> dict[str, float]:
    """GPU milliseconds per call of each kernel ``fn`` launches."""
    events = [e for e in profiled(fn, repeats).key_averages() if e.self_device_time_total > 0]
    return {e.key: e.self_device_time_total / repeats / 1e3 for e in events}


def table(name: str, pattern: Pattern, backend, length: int, rows: int) -> None:
    q, k, v, grad = (torch.randn(1, 8, length, 64, device="cuda", dtype=torch.bfloat16) for _ in range(4))
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    calls = {"fwd": lambda: backend.attend(q, k, v, pattern),
             "fwdbwd": lambda: torch.autograd.grad(backend.attend(*leaves, pattern), leaves, grad)}
    for mode, call in calls.items():
        prof = profiled(call, host=True)
        events = [e for e in prof.key_averages() if e.device_time_total > 0]
        events.sort(key=lambda e: -e.self_device_time_total)
        total = sum(e.self_device_time_total for e in events) / 10 / 1e3
        print(f"== {name} {mode} L={length}: {total:.3f} ms of kernels per call")
        for e in events[:rows]:
            print(f"  {e.self_device_time_total / 10 / 1e3:8.3f} ms  x{e.count // 10:<3d} {e.key[:110]}")
        host = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
        print(f"  host: {sum(e.self_cpu_time_total for e in host) / 10 / 1e3:.3f} ms per call (profiled), top ops:")
        for e in host[:rows]:
            print(f"  {e.self_cpu_time_total / 10 / 1e3:8.3f} ms  x{e.count // 10:<3d} {e.key[:110]}")
    autotuner_timings()


def fwdbwd_ms(backend, pattern: Pattern, length: int, calls: int = 20) -> float:
    """Median GPU milliseconds of one forward+backward call, calls queued back to back (the benchmark's timing)."""
    q, k, v, grad = (torch.randn(1, 8, length, 64, device="cuda", dtype=torch.bfloat16) for _ in range(4))
    leaves = [t.requires_grad_() for t in (q, k, v)]
    return time_call(lambda: torch.autograd.grad(backend.attend(*leaves, pattern), leaves, grad),
                     torch.device("cuda"), rep_ms=50, max_repeats=calls)[0]


def sweep(name: str, pattern: Pattern, backend, length: int, keys: list) -> None:
    """Forward+backward time with each tile option of each kernel (``keys`` of ``best_configs``, which the
    Triton backends launch once a shape is tuned) pinned in turn."""
    from genoattn.attention.kernels import band_launch, block_table_launch, tiles
    from genoattn.attention.kernels.launch import TUNE, best_configs

    module = band_launch if backend.name == "triton_band" else block_table_launch
    base = fwdbwd_ms(backend, pattern, length)
    print(f"== sweep {name} L={length}: fwd+bwd {base:.3f} ms with the autotuner's tiles")
    for key in keys:
        chosen = best_configs[key]
        configs = module.autotuned()[key[0]].configs
        if module is block_table_launch:  # tiles must divide the block
            configs = tiles.fitting_tiles(configs, key[3], TUNE)
        for config in configs:
            best_configs[key] = config
            print(f"  {key[0]:5s} {fwdbwd_ms(backend, pattern, length):.3f} ms  {config}")
        best_configs[key] = chosen


def autotuner_timings() -> None:
    """Each tile configuration's time in the Triton backends' last autotuning of each kernel (ms, fastest first)."""
    from genoattn.attention.kernels import band_launch, block_table_launch

    for module in (band_launch, block_table_launch):
        for kernel, tuned in module._kernels.items():
            timings = getattr(tuned, "configs_timings", None) or {}
            ranked = sorted(timings.items(), key=lambda item: item[1][0] if isinstance(item[1], list) else item[1])
            for config, ms in ranked:
                ms = ms[0] if isinstance(ms, list) else ms
                print(f"  autotune {module.__name__.split('.')[-1]}.{kernel}: {ms:.4f} ms  {config}")
            tuned.configs_timings = None  # printed once


if __name__ == "__main__":
    main()
