"""Is a call GPU-bound or host-bound? Forward+backward of a pattern timed three ways.

    python3 benchmarks/attention/host_time.py --patterns dilated neighborhood longformer [--length 65536]

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
from genoattn.bench.attention import PATTERNS


def median_event_ms(fn, calls: int = 30) -> float:
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(calls)]
    for start, end in events:
        start.record()
        fn()
        end.record()
    torch.cuda.synchronize()
    return sorted(start.elapsed_time(end) for start, end in events)[calls // 2]


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
    return median_event_ms(graph.replay, replays)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patterns", nargs="+", default=["dilated"])
    parser.add_argument("--length", type=int, default=65536)
    parser.add_argument("--backend", default="triton_band")
    args = parser.parse_args()
    for name in args.patterns:
        report(name, PATTERNS[name](), get_backend(args.backend), args.length)
    from genoattn.attention.kernels.launch import best_configs

    for key, config in best_configs.items():  # the tiles the autotuner chose, per kernel and shape
        print(f"tiles {key[0]} {key[3]} flags={key[4:]}: {config}")


def report(name: str, pattern: object, backend, length: int) -> None:
    """Print the three timings of forward and forward+backward."""
    gen = torch.Generator(device="cuda").manual_seed(0)
    q, k, v, grad = (torch.randn(1, 8, length, 64, device="cuda", generator=gen, dtype=torch.bfloat16)
                     for _ in range(4))
    leaves = [t.requires_grad_() for t in (q, k, v)]
    calls = {"fwd": lambda: backend.attend(q, k, v, pattern),
             "fwdbwd": lambda: torch.autograd.grad(backend.attend(*leaves, pattern), leaves, grad)}
    for mode, call in calls.items():
        call()  # tiles tuned, kernels compiled
        queued, host = median_event_ms(call), host_ms(call)
        try:
            graph = f"{graph_ms(call):.3f}"
        except Exception as error:  # noqa: BLE001 - report, go on
            graph = f"failed ({type(error).__name__}: {str(error)[:80]})"
        print(f"{name:13s} {mode:6s} L={length}: queued {queued:.3f} ms  host {host:.3f} ms  graph {graph} ms",
              flush=True)

if __name__ == "__main__":
    main()
