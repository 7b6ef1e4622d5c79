"""Where the Triton band backend's time goes (GPU): each kernel back to back, and host overhead per call.

    python -m genoattn.bench.band_profile --out OUT/band_profile.json [--lengths 65536 1048576]

For SlidingWindow(256), DilatedSlidingWindow(128, 2) and Neighborhood(255, 2) at B=1, H=8, D=64, bf16:
- ``fwd_sync_ms``: one forward per timed call, synchronised (the benchmark's convention; host time counts);
- ``fwd_gpu_ms``: 50 forwards back to back, one sync (GPU time per call when the host keeps ahead);
- ``fwdbwd_sync_ms`` / ``fwdbwd_gpu_ms``: the same for forward + backward;
- ``backward_kernels_ms``: GPU time per backward of each kernel it launches (delta, dK/dV, dQ; torch.profiler);
- ``bwd_split_gpu_ms`` / ``bwd_atomic_gpu_ms``: the backward with dQ from its own kernel / by atomic adds;
- the tiles autotuning chose for each kernel.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from genoattn.attention.backends import triton_band as tb
from genoattn.attention.kernels import band_launch
from genoattn.attention.kernels.launch import best_configs
from genoattn.attention.patterns import DilatedSlidingWindow, Neighborhood, SlidingWindow
from genoattn.bench.kernel_table import kernel_ms

PATTERNS = {"sliding_window": SlidingWindow(256), "dilated": DilatedSlidingWindow(128, 2),
            "neighborhood": Neighborhood(255, 2)}


def gpu_ms(fn, repeats: int = 50) -> float:
    """Mean GPU time per call of ``repeats`` calls queued back to back."""
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / repeats


def sync_ms(fn, repeats: int = 30) -> float:
    """Median time of one synchronised call (CUDA events around it)."""
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def profile(name: str, length: int) -> dict:
    pattern = PATTERNS[name]
    bands = pattern.local_bands(length)
    assert bands is not None  # the profiled patterns are bands
    (band,) = bands  # single bands
    q, k, v, grad = (torch.randn(1, 8, length, 64, device="cuda", dtype=torch.bfloat16) for _ in range(4))
    leaf_q, leaf_k, leaf_v = (t.clone().requires_grad_() for t in (q, k, v))

    def forward():
        return tb.backend.attend(q, k, v, pattern)

    def forward_backward():
        out = tb.backend.attend(leaf_q, leaf_k, leaf_v, pattern)
        out.backward(grad)

    forward_backward()  # autotune every kernel
    out, lse, _ = band_launch.band_forward(q, k, v, band)

    def run_backward(atomic: bool):
        return lambda: band_launch.band_backward(grad, q, k, v, out, lse, band, atomic_dq=atomic)

    row = {"pattern": str(pattern), "length": length,
           "fwd_sync_ms": sync_ms(forward), "fwd_gpu_ms": gpu_ms(forward),
           "fwdbwd_sync_ms": sync_ms(forward_backward), "fwdbwd_gpu_ms": gpu_ms(forward_backward, 20),
           "backward_kernels_ms": kernel_ms(run_backward(False)),
           "bwd_split_gpu_ms": gpu_ms(run_backward(False), 20), "bwd_atomic_gpu_ms": gpu_ms(run_backward(True), 20)}
    row["tiles"] = {f"{key[0]}{'_atomic' if key[5] else ''}": str(config) for key, config in best_configs.items()
                    if key[1] == tuple(q.shape) and key[3] == band}
    row["atomic_dq_chosen"] = band_launch.atomic_dq_choices.get(band_launch.atomic_dq_key(q, band, None))
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--lengths", type=int, nargs="+", default=[65536, 1 << 20])
    parser.add_argument("--patterns", nargs="+", default=list(PATTERNS))
    args = parser.parse_args()
    rows = []
    for length in args.lengths:
        for name in args.patterns:
            rows.append(profile(name, length))
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()}),
                  flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
