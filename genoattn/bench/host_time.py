"""Is a call GPU-bound or host-bound? Forward+backward of a pattern timed three ways.

    python -m genoattn.bench.host_time --patterns dilated neighborhood longformer [--length 65536]

- ``queued``: CUDA events around each call, calls queued back to back (the benchmark's ``ms``);
- ``host``: host seconds per call while queueing 50 calls without waiting (the launch queue does not fill);
- ``graph``: one call captured in a CUDA graph and replayed: GPU time without host gaps.
queued ~ graph: GPU-bound; queued ~ host > graph: the host sets the pace.
"""

from __future__ import annotations

import argparse
import time

import torch

from genoattn.attention.dispatch import get_backend
from genoattn.attention.patterns import Pattern
from genoattn.bench.attention import mask_pattern, time_call


def host_ms(fn, calls: int = 50) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    elapsed = time.perf_counter() - start
    torch.cuda.synchronize()
    return elapsed / calls * 1e3


def graph_ms(fn, replays: int = 30) -> float:
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return time_call(graph.replay, torch.device("cuda"), rep_ms=50, max_repeats=replays)[0]


def check_against_fixed_tiles(pattern: Pattern, leaves: list[torch.Tensor], grad: torch.Tensor) -> None:
    """Output and gradients with the autotuned tiles against the fixed three-loop tiles the GPU tests check against
    the float64 reference (relative error of each; bfloat16 rounding differs with the summation order)."""
    from genoattn.attention.backends import triton_band
    from genoattn.attention.kernels import band_launch

    q, k, v = leaves
    tuned_out = triton_band.backend.attend(q, k, v, pattern)
    tuned = (tuned_out, *torch.autograd.grad(tuned_out, leaves, grad))
    bands = pattern.local_bands(leaves[0].shape[2])
    assert bands is not None, "the band backend ran it"
    tokens = triton_band._global_tokens(pattern, leaves[0].shape[2], grad.device)
    plain = [t.detach() for t in leaves]
    pq, pk, pv = plain
    out, lse, row_lse = band_launch.band_forward(pq, pk, pv, bands, blocks=(64, 64), tokens=tokens)
    fixed = (out, *band_launch.band_backward(grad, pq, pk, pv, out, lse, bands, blocks=((32, 64), (64, 64)),
                                             atomic_dq=False, tokens=tokens, row_lse=row_lse))
    errors = [((a.float() - b.float()).norm() / b.float().norm()).item() for a, b in zip(tuned, fixed)]
    print(f"  check {pattern}: autotuned vs fixed tiles, relative error out, dq, dk, dv: "
          + " ".join(f"{e:.1e}" for e in errors) + (" OK" if max(errors) < 1e-2 else " MISMATCH"), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patterns", nargs="+", default=["dilated"])
    parser.add_argument("--length", type=int, default=65536)
    parser.add_argument("--backend", default="triton_band")
    args = parser.parse_args()
    for name in args.patterns:
        report(name, mask_pattern(name), get_backend(args.backend), args.length)
    from genoattn.attention.kernels.launch import best_configs

    for key, config in best_configs.items():  # the tiles the autotuner chose, per kernel and shape
        print(f"tiles {key[0]} {key[3]} flags={key[4:]}: {config}")


def report(name: str, pattern: Pattern, backend, length: int) -> None:
    """Print the three timings of forward and forward+backward."""
    gen = torch.Generator(device="cuda").manual_seed(0)
    q, k, v, grad = (torch.randn(1, 8, length, 64, device="cuda", generator=gen, dtype=torch.bfloat16)
                     for _ in range(4))
    leaves = [t.requires_grad_() for t in (q, k, v)]
    calls = {"fwd": lambda: backend.attend(q, k, v, pattern),
             "fwdbwd": lambda: torch.autograd.grad(backend.attend(*leaves, pattern), leaves, grad)}
    if backend.name == "triton_band":
        check_against_fixed_tiles(pattern, leaves, grad)
    for mode, call in calls.items():
        call()  # tiles tuned, kernels compiled
        queued = time_call(call, torch.device("cuda"), rep_ms=50, max_repeats=30)[0]
        host = host_ms(call)
        try:
            graph = f"{graph_ms(call):.3f}"
        except Exception as error:  # noqa: BLE001 - report, go on
            graph = f"failed ({type(error).__name__}: {str(error)[:80]})"
        print(f"{name:13s} {mode:6s} L={length}: queued {queued:.3f} ms  host {host:.3f} ms  graph {graph} ms",
              flush=True)

if __name__ == "__main__":
    main()
