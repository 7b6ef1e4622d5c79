"""The Triton block-table backend (BigBird): its tables against the pattern, its kernels against the reference.

- ``bigbird_tables``: the rows' key blocks are exactly the pattern's visible blocks, and the dK/dV items cover
  every visible (query block, key block) pair of the non-global rows exactly once (CPU, always).
- The kernels under Triton's CPU interpreter (float32, fixed tiles equal and unequal, one non-global row, the
  global key blocks split over several slots, a given random layout, q/k/v as strided views) and through the
  backend's autograd path, against the float64 reference: outputs and gradients within 1e-5 absolute (subprocess:
  the interpreter must be chosen before triton is imported).
- On a GPU (``gpu`` mark): bfloat16 and float16 with the autotuned tiles; ``auto`` picks this backend.
"""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch

from genoattn.attention.backends.triton_blocks import backend
from genoattn.attention.kernels.block_tables import bigbird_tables
from genoattn.attention.patterns import BigBird, SlidingWindow

HAS_TRITON = importlib.util.find_spec("triton") is not None


@pytest.mark.parametrize(("pattern", "length", "heads"), [
    (BigBird(block_size=4, random_blocks=2, seed=1), 4 * 12, 3), (BigBird(block_size=2, random_blocks=0), 6, 2),
    (BigBird(block_size=8, random_blocks=3, seed=5), 8 * 90, 2),  # 88 non-global rows: 11 slots per global block
    (BigBird(block_size=4, random_blocks=1, seed=2), 4 * 6, 1),
], ids=str)
def test_tables_cover_the_pattern_exactly(pattern, length, heads):
    tables = bigbird_tables(pattern, length, heads, torch.device("cpu"))
    b, nb = pattern.block_size, length // pattern.block_size
    expected = pattern.dense_mask(length, heads)[:, ::b, ::b]  # [H, nb, nb] block-level mask
    valid = torch.arange(tables.cols.shape[-1]) < tables.counts.unsqueeze(-1).long()  # [H, nb - 2, width]
    got = torch.zeros(heads, nb, nb, dtype=torch.bool)
    h, r, c = torch.nonzero(valid, as_tuple=True)
    got[h, r + 1, tables.cols[h, r, c].long()] = True
    assert torch.equal(got[:, 1:-1], expected[:, 1:-1])
    assert int(valid.sum()) == int(expected[:, 1:-1].sum())  # no block twice in a row
    # the items: every visible (row, key block) of rows 1..nb-2 once; globals split over slots
    seen = torch.zeros(heads, nb, nb, dtype=torch.long)
    rows_valid = torch.arange(tables.item_rows.shape[-1]) < tables.item_count.unsqueeze(-1).long()
    h, i, j = torch.nonzero(rows_valid, as_tuple=True)
    seen.index_put_((h, tables.item_rows[h, i, j].long(), tables.item_kb[h, i].long()), torch.ones_like(h),
                    accumulate=True)
    assert torch.equal(seen[:, 1:-1], expected[:, 1:-1].long())
    slot = tables.item_slot.long()
    assert torch.equal(slot >= 0, (tables.item_kb == 0) | (tables.item_kb == nb - 1))
    assert sorted(slot[0][slot[0] >= 0].tolist()) == list(range(2 * tables.slots))


@pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed (pip install -e '.[dev]')")
def test_kernels_match_reference_in_interpreter(run_interpreted):
    cases = run_interpreted("triton_blocks_interpret.py")
    assert len(cases) == 5 + 2  # fixed and autotuned tiles; autotuned over two tile sizes; compiled
    for case in cases:
        assert max(case["fixed"] + case["auto"]) < 1e-5, case


def test_can_run_refusals():
    q = torch.zeros(1, 2, 64, 16)
    assert "(BigBird)" in backend.can_run(q, q, q, SlidingWindow(4))
    assert "multiple of the block" in backend.can_run(q[:, :, :60], q[:, :, :60], q[:, :, :60], BigBird(16))
    assert "at least 3 blocks" in backend.can_run(q, q, q, BigBird(32, random_blocks=0))
    assert "power of two" in backend.can_run(q, q, q, BigBird(8, random_blocks=1))
    assert "ALiBi" in backend.can_run(q, q, q, BigBird(16, random_blocks=0), torch.ones(2))
    if HAS_TRITON and os.environ.get("TRITON_INTERPRET") != "1":
        assert "CUDA" in backend.can_run(q, q, q, BigBird(16, random_blocks=0))


GPU_CASES = [(BigBird(block_size=128, random_blocks=3), 4096, torch.bfloat16),
             (BigBird(block_size=64, random_blocks=2, seed=1), 2048, torch.bfloat16),
             (BigBird(block_size=64, random_blocks=1, seed=2), 64 * 80, torch.float16)]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or not HAS_TRITON, reason="needs a CUDA GPU and triton")
@pytest.mark.parametrize(("pattern", "length", "dtype"), GPU_CASES, ids=str)
def test_gpu_matches_reference(pattern, length, dtype):
    from genoattn.attention.backends.reference import backend as reference
    from genoattn.attention.dispatch import choose_backend

    torch.manual_seed(0)
    q, k, v, grad = (torch.randn(1, 8, length, 64, device="cuda", dtype=torch.float64) for _ in range(4))
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    expected = reference.attend(*leaves, pattern)
    expected_grads = torch.autograd.grad(expected, leaves, grad)
    low = [t.to(dtype).requires_grad_() for t in (q, k, v)]
    assert choose_backend(*low, pattern).name == "triton_blocks"
    for _ in range(2):  # the second call launches the cached kernels directly
        out = backend.attend(*low, pattern)
        grads = torch.autograd.grad(out, low, grad.to(dtype))

        def rel(a, b):
            return ((a.double() - b).norm() / b.norm()).item()

        assert rel(out, expected) < 1.5e-2
        for got, want in zip(grads, expected_grads):
            assert rel(got, want) < 3e-2
