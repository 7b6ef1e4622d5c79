"""Run by tests/attention/test_triton_blocks.py in a subprocess with TRITON_INTERPRET=1 (Triton's CPU
interpreter must be chosen before triton is imported). Prints one JSON line per case: the largest absolute
error of the output and of dq, dk, dv against the float64 reference, with fixed tiles and through the backend."""

from __future__ import annotations

import json
import os

os.environ["TRITON_INTERPRET"] = "1"

import torch  # noqa: E402

from genoattn.attention.backends.reference import backend as reference  # noqa: E402
from genoattn.attention.backends.triton_blocks import backend  # noqa: E402
from genoattn.attention.kernels.block_table_launch import bigbird_backward, bigbird_forward  # noqa: E402
from genoattn.attention.patterns import BigBird  # noqa: E402

GIVEN = BigBird(block_size=16, random_blocks=2, seed=7).random_layout(16 * 9, 1)  # one layout for every head
CASES = [  # pattern, L, heads, (fwd tiles), ((dK/dV tiles), (dQ tiles))
    (BigBird(block_size=16, random_blocks=2, seed=1), 16 * 8, 2, (16, 16), ((16, 16), (16, 16))),
    (BigBird(block_size=32, random_blocks=1, seed=4), 32 * 7, 2, (16, 32), ((32, 16), (16, 32))),
    (BigBird(block_size=16, random_blocks=0), 16 * 3, 3, (16, 16), ((16, 16), (16, 16))),  # one non-global row
    (BigBird(block_size=16, random_blocks=3, seed=2), 16 * 20, 1, (16, 16), ((16, 16), (16, 16))),  # 3 slots
    (BigBird(block_size=16, random_layout=GIVEN), 16 * 9, 2, (16, 16), ((16, 16), (16, 16))),
]


def max_errors(got, want) -> list[float]:
    return [(a.double() - b).abs().max().item() for a, b in zip(got, want)]


def main() -> None:
    torch.manual_seed(0)
    for pattern, length, heads, fwd_tiles, bwd_tiles in CASES:
        qkv = torch.randn(2, length, 3, heads, 16, dtype=torch.float64)  # [B, L, 3, H, D]: strided views
        q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
        grad = torch.randn(2, heads, length, 16, dtype=torch.float64)
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        expected = reference.attend(*leaves, pattern)
        expected_grads = torch.autograd.grad(expected, leaves, grad)
        q32, k32, v32 = (t.float() for t in (q, k, v))  # still strided views
        out, lse, state = bigbird_forward(q32, k32, v32, pattern, blocks=fwd_tiles)
        grads = bigbird_backward(grad.float(), q32, k32, v32, out, lse, pattern, state, blocks=bwd_tiles)
        leaves32 = [t.clone().requires_grad_() for t in (q32, k32, v32)]
        assert backend.can_run(*leaves32, pattern) is None
        auto_out = backend.attend(*leaves32, pattern)
        auto_grads = torch.autograd.grad(auto_out, leaves32, grad.float())
        print(json.dumps({"case": f"{pattern} L={length} H={heads}",
                          "fixed": max_errors((out, *grads), (expected, *expected_grads)),
                          "auto": max_errors((auto_out, *auto_grads), (expected, *expected_grads))}), flush=True)


def run_twice(kernel_call, quantiles):
    """The autotuner's timer on the CPU: run each configuration twice (as timing repeats do), equal times."""
    kernel_call()
    kernel_call()
    return [1.0, 1.0, 1.0]


def errors_of(attend, pattern, length: int, heads: int) -> list[float]:
    """Largest absolute errors of ``attend`` (output, dq, dk, dv) against the float64 reference."""
    q, k, v, grad = (torch.randn(1, heads, length, 16, dtype=torch.float64) for _ in range(4))
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    expected = reference.attend(*leaves, pattern)
    expected_grads = torch.autograd.grad(expected, leaves, grad)
    leaves32 = [t.float().requires_grad_() for t in (q, k, v)]
    out = attend(*leaves32, pattern)
    return max_errors((out, *torch.autograd.grad(out, leaves32, grad.float())), (expected, *expected_grads))


def tuned_and_compiled() -> None:
    """Autotuning over two tile configurations, each timed twice (the dK/dV kernel adds into DK, DV: its autotuner
    restores them); then the custom op (torch.library.opcheck) and a function calling the backend traced whole by
    torch.compile (fullgraph, aot_eager)."""
    from genoattn.attention.kernels import block_table_launch, launch, ops, tiles
    from genoattn.attention.kernels.block_tables import bigbird_tables

    tiles.block_table_rows = lambda table, interpret: ((32, 16, 4, 2), (16, 32, 4, 2), (16, 16, 4, 2))
    block_table_launch.TUNE = True
    block_table_launch._kernels.clear()
    launch.best_configs.clear()
    for tuned in block_table_launch.autotuned().values():
        tuned._do_bench = run_twice
    pattern = BigBird(block_size=32, random_blocks=1, seed=4)
    print(json.dumps({"case": f"tuned {pattern}", "fixed": errors_of(backend.attend, pattern, 32 * 6, 2),
                      "auto": []}), flush=True)
    q, k, v = (torch.randn(1, 2, 16 * 7, 16, requires_grad=True) for _ in range(3))
    pattern = BigBird(block_size=16, random_blocks=1, seed=3)
    tables = bigbird_tables(pattern, 16 * 7, 2, q.device)
    torch.library.opcheck(ops.block_table_attention, (q, k, v, *ops.table_tensors(tables), 16, tables.slots))
    compiled = torch.compile(backend.attend, backend="aot_eager", fullgraph=True)
    print(json.dumps({"case": f"compiled {pattern}", "fixed": errors_of(compiled, pattern, 16 * 7, 2), "auto": []}),
          flush=True)


if __name__ == "__main__":
    main()
    tuned_and_compiled()
