"""Which dQ of the band backward is faster for a shape: its own kernel or float32 atomic adds from the dK/dV kernel.

    python -m genoattn.bench.band_dq --pattern sliding_window --length 1048576 [--heads 8 --head-dim 64]

Times the band backward (CUDA events, after a call that tunes its tiles) both ways and records the faster in
``genoattn.attention.kernels.band_launch.atomic_dq_choices``, which the library consults under the setting
``GENOATTN_TRITON_BAND_ATOMIC_DQ=auto`` (in the same process; unmeasured shapes take dQ's own kernel). The timing
lives here, not in the library: a library call never runs a benchmark.
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor

from genoattn.attention.kernels import band_launch
from genoattn.attention.patterns.band import Band
from genoattn.bench.attention import PATTERNS, mask_pattern


def backward_ms(grad_out: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, band: Band,
                alibi_slopes: Tensor | None, atomic: bool, repeats: int = 3) -> float:
    """Mean milliseconds of one band backward with dQ by atomic adds or not (one untimed call first: tiles)."""
    band_launch.band_backward(grad_out, q, k, v, out, lse, band, alibi_slopes, atomic_dq=atomic)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        band_launch.band_backward(grad_out, q, k, v, out, lse, band, alibi_slopes, atomic_dq=atomic)
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / repeats


def measure_atomic_dq(q: Tensor, k: Tensor, v: Tensor, band: Band, alibi_slopes: Tensor | None = None
                      ) -> dict[bool, float]:
    """Milliseconds per backward with dQ from its kernel (False) and by atomic adds (True); the faster is recorded
    in ``atomic_dq_choices`` for this shape."""
    out, lse, _ = band_launch.band_forward(q, k, v, band, alibi_slopes)
    grad_out = torch.randn_like(out)
    times = {atomic: backward_ms(grad_out, q, k, v, out, lse, band, alibi_slopes, atomic) for atomic in (False, True)}
    band_launch.atomic_dq_choices[band_launch.atomic_dq_key(q, band, alibi_slopes)] = times[True] < times[False]
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pattern", default="sliding_window", help=f"one of {', '.join(PATTERNS)} (a single band)")
    parser.add_argument("--length", type=int, default=65536)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=64)
    args = parser.parse_args(argv)
    bands = mask_pattern(args.pattern).local_bands(args.length)
    if bands is None or len(bands) != 1:
        parser.error(f"{args.pattern} is not a single band (atomic dQ takes one band without global tokens)")
    q, k, v = (torch.randn(1, args.heads, args.length, args.head_dim, device="cuda", dtype=torch.bfloat16)
               for _ in range(3))
    times = measure_atomic_dq(q, k, v, bands[0])
    print(f"{args.pattern} L={args.length}: dQ kernel {times[False]:.3f} ms, atomic dQ {times[True]:.3f} ms per "
          f"backward -> {'atomic' if times[True] < times[False] else 'kernel'}")


if __name__ == "__main__":
    main()
