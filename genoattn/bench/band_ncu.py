"""One forward+backward call of a band pattern inside a profiler window, for Nsight Compute.

    ncu --clock-control none --profile-from-start off --section ... \
        python -m genoattn.bench.band_ncu --pattern dilated --length 65536

Warms up first (autotuning, compilation stay outside the window: ``--profile-from-start off``), then opens the
CUDA profiler around one call. Without ncu it prints the forward+backward time with dQ from its own kernel and
from atomic adds in the dK/dV kernel (one band, no global tokens).
"""

from __future__ import annotations

import argparse

import torch

from genoattn.attention.backends import triton_band
from genoattn.attention.kernels import band_launch
from genoattn.attention.patterns import Pattern
from genoattn.bench.attention import mask_pattern, time_call


def fwdbwd(pattern: Pattern, leaves: list[torch.Tensor], grad: torch.Tensor) -> None:
    q, k, v = leaves
    torch.autograd.grad(triton_band.backend.attend(q, k, v, pattern), leaves, grad)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pattern", default="dilated")
    parser.add_argument("--length", type=int, default=65536)
    args = parser.parse_args()
    pattern = mask_pattern(args.pattern)
    gen = torch.Generator(device="cuda").manual_seed(0)
    q, k, v, grad = (torch.randn(1, 8, args.length, 64, device="cuda", generator=gen, dtype=torch.bfloat16)
                     for _ in range(4))
    leaves = [t.requires_grad_() for t in (q, k, v)]
    for atomic in ("0", "1"):
        band_launch.ATOMIC_DQ = atomic
        print(f"{args.pattern} L={args.length} atomic_dq={atomic}: fwd+bwd "
              f"{time_call(lambda: fwdbwd(pattern, leaves, grad), torch.device('cuda'), rep_ms=50)[0]:.3f} ms")
    band_launch.ATOMIC_DQ = "0"
    fwdbwd(pattern, leaves, grad)
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStart()
    fwdbwd(pattern, leaves, grad)
    torch.cuda.synchronize()
    torch.cuda.cudart().cudaProfilerStop()


if __name__ == "__main__":
    main()
