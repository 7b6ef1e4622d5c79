"""Run by tests/attention/test_triton_band.py in a subprocess with TRITON_INTERPRET=1 (Triton's CPU
interpreter must be chosen before triton is imported). Prints one JSON line per case: the largest absolute
error of the output and of dq, dk, dv against the float64 reference."""

from __future__ import annotations

import json
import os
import sys

os.environ["TRITON_INTERPRET"] = "1"

import torch  # noqa: E402

from genoattn.attention.backends.reference import backend as reference  # noqa: E402
from genoattn.attention.backends.triton_band import backend  # noqa: E402
from genoattn.attention.kernels import band_launch  # noqa: E402
from genoattn.attention.kernels.band import GlobalTokens  # noqa: E402
from genoattn.attention.kernels.band_launch import band_backward, band_forward  # noqa: E402
from genoattn.attention.patterns import (  # noqa: E402
    DilatedSlidingWindow,
    Longformer,
    Neighborhood,
    SlidingWindow,
    Strided,
)

CASES = [  # pattern, L, (fwd BLOCK_M, BLOCK_N), ((dkdv M, N), (dq M, N)), alibi
    (SlidingWindow(5), 70, (16, 16), ((16, 32), (32, 16)), False),
    (SlidingWindow(40), 100, (32, 16), ((16, 32), (32, 32)), True),
    (SlidingWindow(3, causal=True), 45, (16, 32), ((32, 16), (16, 16)), False),
    (DilatedSlidingWindow(4, 3), 77, (16, 16), ((16, 16), (16, 32)), True),
    (DilatedSlidingWindow(6, 2, causal=True), 61, (32, 16), ((16, 32), (16, 16)), False),
    (Neighborhood(7, 2), 90, (16, 32), ((32, 16), (32, 16)), False),
    (Neighborhood(33), 100, (32, 16), ((16, 16), (16, 32)), True),
    (Strided(6), 80, (16, 32), ((32, 16), (16, 32)), True),  # two chained bands: window, residue class with a hole
    (Strided(5, causal=True), 77, (32, 16), ((16, 16), (32, 16)), False),
]


LONGFORMER_CASES = [  # pattern, L, alibi: window and global columns on the kernels, global rows in PyTorch
    (Longformer(6, global_tokens=(0,)), 70, False),
    (Longformer(4, global_tokens=(0, 33, -1), dilation=2), 81, True),
    (Longformer(5, global_tokens=(3, 40), causal=True), 64, False),
    (Longformer(3, global_tokens=(), dilation=3), 50, False),
    (Longformer(2, global_tokens=tuple(range(1, 75, 4))), 75, True),  # 19 globals: two global key tiles
]


def longformer_cases() -> None:
    band_launch.MERGE_SLOTS = 2  # several merge programs per global row even at these lengths
    for pattern, length, alibi in LONGFORMER_CASES:
        q, k, v, grad = (torch.randn(2, 2, length, 16, dtype=torch.float64) for _ in range(4))
        slopes = torch.tensor([0.3, 0.05], dtype=torch.float64) if alibi else None
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        expected = reference.attend(*leaves, pattern, slopes)
        expected_grads = torch.autograd.grad(expected, leaves, grad)
        leaves32 = [t.float().requires_grad_() for t in (q, k, v)]
        assert backend.can_run(*leaves32, pattern) is None
        out = backend.attend(*leaves32, pattern, slopes.float() if alibi else None)
        grads = torch.autograd.grad(out, leaves32, grad.float())
        # the kernels directly, with fixed unequal tiles (16-row forward tiles: every partial-result slot used)
        tokens = GlobalTokens(pattern.global_positions(length).int(), pattern.causal)
        q32, k32, v32 = (t.detach() for t in leaves32)
        slopes32 = slopes.float() if alibi else None
        fixed_out, lse, row_lse = band_forward(q32, k32, v32, pattern.local_bands(length), slopes32, blocks=(16, 32),
                                               tokens=tokens)
        fixed_grads = band_backward(grad.float(), q32, k32, v32, fixed_out, lse, pattern.local_bands(length), slopes32,
                                    blocks=((16, 32), (32, 16)), tokens=tokens, row_lse=row_lse)
        errors = {"out": (out.double() - expected).abs().max().item(),
                  "grads": [(a.double() - b).abs().max().item() for a, b in zip(grads, expected_grads)],
                  "fixed_out": (fixed_out.double() - expected).abs().max().item(),
                  "fixed_grads": [(a.double() - b).abs().max().item() for a, b in zip(fixed_grads, expected_grads)]}
        print(json.dumps({"case": f"{pattern} L={length} alibi={alibi}", **errors}))


def main() -> None:
    torch.manual_seed(0)
    for pattern, length, fwd_blocks, bwd_blocks, alibi in CASES:
        q, k, v = (torch.randn(2, 2, length, 16, dtype=torch.float64) for _ in range(3))
        slopes = torch.tensor([0.3, 0.05], dtype=torch.float64) if alibi else None
        grad = torch.randn(2, 2, length, 16, dtype=torch.float64)
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        expected = reference.attend(*leaves, pattern, slopes)
        expected_grads = torch.autograd.grad(expected, leaves, grad)
        band = pattern.local_bands(length)
        q32, k32, v32 = (t.float() for t in (q, k, v))
        slopes32 = slopes.float() if alibi else None
        out, lse, _ = band_forward(q32, k32, v32, band, slopes32, blocks=fwd_blocks)
        grads = band_backward(grad.float(), q32, k32, v32, out, lse, band, slopes32, blocks=bwd_blocks)
        atomic = band_backward(grad.float(), q32, k32, v32, out, lse, band, slopes32, blocks=bwd_blocks,
                               atomic_dq=True)
        # the backend's own path (can_run, attend with autograd) with autotuned (here: the interpreter's) tiles
        leaves32 = [t.clone().requires_grad_() for t in (q32, k32, v32)]
        assert backend.can_run(*leaves32, pattern) is None
        auto_out = backend.attend(*leaves32, pattern, slopes32)
        auto_grads = torch.autograd.grad(auto_out, leaves32, grad.float())
        errors = {
            "out": (out.double() - expected).abs().max().item(),
            "grads": [(a.double() - b).abs().max().item() for a, b in zip(grads, expected_grads)],
            "atomic_grads": [(a.double() - b).abs().max().item() for a, b in zip(atomic, expected_grads)],
            "auto_out": (auto_out.double() - expected).abs().max().item(),
            "auto_grads": [(a.double() - b).abs().max().item() for a, b in zip(auto_grads, expected_grads)],
        }
        print(json.dumps({"case": f"{pattern} L={length} alibi={alibi}", **errors}))
    longformer_cases()
    sys.stdout.flush()


def run_twice(kernel_call, quantiles):
    """The autotuner's timer on the CPU: run each configuration twice (as timing repeats do), equal times."""
    kernel_call()
    kernel_call()
    return [1.0, 1.0, 1.0]


def reference_errors(pattern, length: int, attend, alibi: bool = False, seed: int = 0) -> dict:
    """Largest absolute errors of ``attend(q, k, v, pattern, slopes)`` and its gradients against the reference."""
    torch.manual_seed(seed)
    q, k, v, grad = (torch.randn(2, 2, length, 16, dtype=torch.float64) for _ in range(4))
    slopes = torch.tensor([0.3, 0.05], dtype=torch.float64) if alibi else None
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    expected = reference.attend(*leaves, pattern, slopes)
    expected_grads = torch.autograd.grad(expected, leaves, grad)
    leaves32 = [t.float().requires_grad_() for t in (q, k, v)]
    out = attend(*leaves32, pattern, slopes.float() if alibi else None)
    grads = torch.autograd.grad(out, leaves32, grad.float())
    return {"out": (out.double() - expected).abs().max().item(),
            "grads": [(a.double() - b).abs().max().item() for a, b in zip(grads, expected_grads)]}


TUNED_CASES = [  # pattern, L, alibi, dQ by atomic adds: chained bands, global tokens, atomic dQ
    (Strided(6), 80, True, "0"),
    (Longformer(4, global_tokens=(0, 33, -1), dilation=2), 81, False, "0"),
    (SlidingWindow(5), 70, False, "1"),
]


def tuning_cases() -> None:
    """Autotuning over two tile configurations, each timed twice: the autotuner's hooks keep the outputs that
    kernels add into or rewrite right (chained passes, global tokens, atomic dQ)."""
    from genoattn.attention.kernels import launch, tiles

    tiles.BAND_INTERPRETER = ((32, 32, 4, 2, True), (16, 16, 4, 2, False))
    band_launch._kernels.clear()
    launch.best_configs.clear()
    for tuned in band_launch.autotuned().values():
        tuned._do_bench = run_twice
    for pattern, length, alibi, atomic in TUNED_CASES:
        band_launch.ATOMIC_DQ = atomic
        errors = reference_errors(pattern, length, backend.attend, alibi)
        print(json.dumps({"case": f"tuned {pattern} L={length} atomic_dq={atomic}", **errors}))
    band_launch.ATOMIC_DQ = "0"


def compiled_cases() -> None:
    """The custom op: torch.library.opcheck (schema, fake implementation, autograd registration), and a function
    that calls the backend traced whole by torch.compile (fullgraph, aot_eager) against the reference."""
    from genoattn.attention.kernels import ops

    torch.manual_seed(1)
    for pattern, length in [(Strided(5), 40), (Longformer(3, global_tokens=(0, 20)), 37)]:
        q, k, v = (torch.randn(1, 2, length, 16, requires_grad=True) for _ in range(3))
        bands = ops.bands_to_ints(pattern.local_bands(length))
        positions = pattern.global_positions(length).int() if isinstance(pattern, Longformer) else None
        torch.library.opcheck(ops.band_attention, (q, k, v, bands, None, positions, False))
        torch._dynamo.reset()
        compiled = torch.compile(backend.attend, backend="aot_eager", fullgraph=True)
        errors = reference_errors(pattern, length, compiled)
        print(json.dumps({"case": f"compiled {pattern} L={length}", **errors}))


if __name__ == "__main__":
    main()
    tuning_cases()
    compiled_cases()
