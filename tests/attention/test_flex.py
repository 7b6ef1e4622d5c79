"""flex backend on CPU: BlockMask construction, plans (with a dense emulation of the kernel), compiled forward.

The plan tests run every pattern's flex plan (the BlockMasks it would hand to the kernel, residue classes,
gathered globals, log-sum-exp merges) with ``emulated_flex``, a float64 dense evaluation of exactly what
FlexAttention computes for a BlockMask: full blocks visible, partial blocks through mask_mod, other blocks
hidden. Outputs and gradients must equal the reference backend (tolerance 1e-10, float64). The real kernel is
compared with the reference on CPU (forward, compiled) here and on the GPU (outputs and gradients) in
test_gpu.py.
"""

from __future__ import annotations

import math

import pytest
import torch

from genoattn.attention import dispatch
from genoattn.attention.backends import flex
from genoattn.attention.backends.flex_mask import (
    block_mask_from_layout,
    compact_rows,
    mask_mod_on,
    transpose_blocks,
)
from genoattn.attention.backends.flex_plan import PlanOptions, build_plan, coarsen_pairs
from genoattn.attention.backends.reference import backend as reference
from genoattn.attention.merge import merge_lse
from genoattn.attention.patterns import (
    BigBird,
    DilatedSlidingWindow,
    FixedFactorized,
    Full,
    Longformer,
    Neighborhood,
    SlidingWindow,
    Strided,
)
from genoattn.errors import BackendUnavailableError

CPU = torch.device("cpu")


# ------------------------------------------------------------------------------------------- dense emulation
def blocks_dense(num: torch.Tensor, idx: torch.Tensor, ncols: int) -> torch.Tensor:
    """bool [B', H', R, ncols] from row-compressed (num [B', H', R], idx [B', H', R, K])."""
    k = idx.shape[-1]
    valid = torch.arange(k) < num.unsqueeze(-1)
    out = torch.zeros(*num.shape, ncols + 1, dtype=torch.bool)
    out.scatter_(-1, torch.where(valid, idx.long(), ncols), True)
    return out[..., :ncols]


def dense_from_block_mask(bm, batch: int, heads: int, lq: int, lk: int) -> torch.Tensor:
    """bool [B, H, Lq, Lk]: what FlexAttention treats as visible for this BlockMask."""
    bq, bk = bm.BLOCK_SIZE
    nq, nk = -(-lq // bq), -(-lk // bk)
    partial = blocks_dense(bm.kv_num_blocks, bm.kv_indices, nk)[..., :nq, :]  # [1, H', NQ, NK]
    full = blocks_dense(bm.full_kv_num_blocks, bm.full_kv_indices, nk)[..., :nq, :]
    qi = torch.arange(lq)
    kj = torch.arange(lk)
    pb = partial[:, :, qi // bq][..., kj // bk]  # [1, H', Lq, Lk]
    fb = full[:, :, qi // bq][..., kj // bk]
    b = torch.arange(batch).view(-1, 1, 1, 1)
    h = torch.arange(heads).view(1, -1, 1, 1)
    vis = bm.mask_mod(b, h, qi.view(1, 1, -1, 1), kj.view(1, 1, 1, -1))
    return fb | (pb & vis)


def emulated_flex(q, k, v, block_mask, score_mod, need_lse):
    """Dense float64 stand-in for the FlexAttention call: (out, lse or None)."""
    b, h, lq, d = q.shape
    lk = k.shape[2]
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(d)  # [B, H, Lq, Lk]
    if score_mod is not None:
        bi = torch.arange(b).view(-1, 1, 1, 1)
        hi = torch.arange(h).view(1, -1, 1, 1)
        scores = score_mod(scores, bi, hi, torch.arange(lq).view(1, 1, -1, 1), torch.arange(lk).view(1, 1, 1, -1))
    if block_mask is not None:
        assert block_mask.seq_lengths == (lq, lk)
        scores = scores.masked_fill(~dense_from_block_mask(block_mask, b, h, lq, lk), float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)  # [B, H, Lq]
    probs = torch.exp(scores - torch.where(torch.isfinite(lse), lse, 0).unsqueeze(-1))
    return probs @ v, (lse if need_lse else None)


def qkv(shape, dtype=torch.float64, seed=0, grad=False):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, dtype=dtype).requires_grad_(grad) for _ in range(3)]


PATTERNS = [
    Full(),
    Full(causal=True),
    SlidingWindow(5),
    SlidingWindow(7, causal=True),
    DilatedSlidingWindow(3, dilation=3),
    DilatedSlidingWindow(2, dilation=2, causal=True),
    Strided(6),
    Strided(5, causal=True),
    FixedFactorized(8, summary=2),
    FixedFactorized(6, summary=0),
    FixedFactorized(8, summary=3, causal=True),
    Longformer(4, global_tokens=(0, 9, -1)),
    Longformer(3, global_tokens=(5,), dilation=(1, 2)),
    Longformer(3, global_tokens=(0,), causal=True),
    BigBird(block_size=8, random_blocks=2, seed=1),
    BigBird(block_size=12, random_blocks=1, seed=2),
    BigBird(block_size=16, random_blocks=0),
    BigBird(block_size=4, random_blocks=3),
    Neighborhood(kernel_size=5),
    Neighborhood(kernel_size=7, dilation=3),
]


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
@pytest.mark.parametrize("length", [61, 96])
def test_plan_matches_reference(pattern, length):
    """Every plan part, merge and permutation, with BlockMasks of 16-blocks, equals the dense reference."""
    heads = 2
    opts = PlanOptions(block_size=16, narrow=True, min_programs=6, batch_heads=2)
    plan = build_plan(pattern, length, heads, CPU, opts)
    q, k, v = qkv((2, heads, length, 8), grad=True)
    slopes = torch.tensor([0.3, 0.05], dtype=torch.float64)
    for alibi in (None, slopes):
        out, _ = plan.run(q, k, v, emulated_flex, flex.alibi_factory(alibi))
        ref = reference.attend(q, k, v, pattern, alibi)
        torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
        grads = torch.autograd.grad(out.square().sum(), (q, k, v))
        ref_grads = torch.autograd.grad(ref.square().sum(), (q, k, v))
        for got, want in zip(grads, ref_grads):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)


def test_plan_shapes_split_the_globals():
    """Longformer/BigBird globals leave the masked call narrow; dilated windows use residue classes."""
    opts = PlanOptions(block_size=16, narrow=True)
    plan = build_plan(BigBird(block_size=16, random_blocks=2), 16 * 40, 4, CPU, opts)
    kinds = [type(p).__name__ for p in plan.parts]
    assert kinds == ["Direct", "GatherKeys"] and plan.override is not None
    local = plan.parts[0].block_mask
    assert local.kv_indices.shape[-1] + local.full_kv_indices.shape[-1] <= 2 + 5  # not 40 columns
    plan = build_plan(DilatedSlidingWindow(4, dilation=3), 100, 1, CPU, opts)
    assert type(plan.parts[0]).__name__ == "Residue"
    # CPU kernels cannot return log-sum-exp: multi-part plans are replaced by one call there.
    plan = build_plan(Strided(8), 100, 1, CPU, opts, allow_lse=False)
    assert len(plan.parts) == 1 and not plan.needs_lse


# ------------------------------------------------------------------------------------------- block masks
@pytest.mark.parametrize(
    "pattern", [SlidingWindow(20), Longformer(9, global_tokens=(3, -2)), BigBird(block_size=8, random_blocks=2),
                Neighborhood(kernel_size=11, dilation=2), FixedFactorized(32, summary=4, causal=True)],
    ids=str,
)
@pytest.mark.parametrize("narrow", [True, False])
def test_block_mask_matches_dense_mask(pattern, narrow):
    length, heads = 150, 2
    layout = pattern.block_layout(length, 16, heads)
    bm = block_mask_from_layout(layout, pattern.mask_mod_for(length, heads), CPU, narrow=narrow)
    dense = dense_from_block_mask(bm, 1, heads, length, length).expand(1, heads, -1, -1)[0]
    assert torch.equal(dense, pattern.dense_mask(length, heads).expand(heads, -1, -1))
    nq = -(-length // 16)
    if not narrow:
        assert bm.kv_indices.shape[-1] == nq  # the CPU kernel's requirement
    # The q-side (used by the backward pass) is the exact transpose of the kv side.
    for kv_num, kv_idx, q_num, q_idx in (
        (bm.kv_num_blocks, bm.kv_indices, bm.q_num_blocks, bm.q_indices),
        (bm.full_kv_num_blocks, bm.full_kv_indices, bm.full_q_num_blocks, bm.full_q_indices),
    ):
        rows = blocks_dense(kv_num, kv_idx, nq)
        cols = blocks_dense(q_num, q_idx, nq)
        assert torch.equal(rows.transpose(-1, -2), cols)
        valid = torch.arange(q_idx.shape[-1]) < q_num.unsqueeze(-1)
        ordered = torch.where(valid, q_idx, torch.iinfo(torch.int32).max)
        assert (ordered[..., 1:] >= ordered[..., :-1]).all()  # ascending rows


def test_compact_and_transpose_small():
    idx = torch.tensor([[[2, 0, 5], [1, 3, 0]]])
    keep = torch.tensor([[[True, False, True], [False, True, False]]])
    counts, out = compact_rows(idx, keep)
    assert counts.tolist() == [[2, 1]] and out.tolist() == [[[2, 5], [3, 0]]]
    t_counts, t_idx = transpose_blocks(counts, out, 6)
    assert t_counts.tolist() == [[0, 0, 1, 1, 0, 1]]
    assert t_idx[0, 2, 0] == 0 and t_idx[0, 3, 0] == 1 and t_idx[0, 5, 0] == 0


def test_coarsen_pairs_area_rule():
    """Pattern blocks of 4 on kernel blocks of 8: a kernel pair is full only if all four sub-pairs are visible."""
    h = torch.zeros(3, dtype=torch.long)
    qb = torch.tensor([0, 1, 0])
    kb = torch.tensor([0, 1, 1])
    layout = coarsen_pairs(h, qb, kb, 1, 4, 8, 20)
    assert layout.counts[0, 0] == 1 and not layout.full[0, 0, 0]
    layout = coarsen_pairs(torch.zeros(4, dtype=torch.long), torch.tensor([0, 0, 1, 1]),
                           torch.tensor([0, 1, 0, 1]), 1, 4, 8, 20)
    assert layout.full[0, 0, 0]


def test_merge_lse_is_softmax_over_the_union():
    torch.manual_seed(0)
    s = torch.randn(3, 10, dtype=torch.float64)
    v = torch.randn(10, 4, dtype=torch.float64)
    full = torch.softmax(s, -1) @ v
    parts = []
    for cols in (slice(0, 4), slice(4, 10)):
        lse = torch.logsumexp(s[:, cols], -1)
        parts.append((torch.softmax(s[:, cols], -1) @ v[cols], lse))
    empty = (torch.zeros(3, 4, dtype=torch.float64), torch.full((3,), float("-inf"), dtype=torch.float64))
    out, lse = merge_lse([*parts, empty])
    torch.testing.assert_close(out, full)
    torch.testing.assert_close(lse, torch.logsumexp(s, -1))


def test_mask_mod_on_moves_captured_tensors():
    table = torch.tensor([True, False])

    def outer():
        def mask_mod(b, h, q, kv):
            return table[q % 2]

        return mask_mod

    moved = mask_mod_on(outer(), "meta")
    assert moved.__closure__[0].cell_contents.device.type == "meta"
    assert mask_mod_on(outer(), "cpu") is not None


# ------------------------------------------------------------------------------------------- the backend
def test_can_run_reasons():
    q, k, v = qkv((1, 2, 64, 16), dtype=torch.float32, grad=True)
    assert "no backward on CPU" in flex.backend.can_run(q, k, v, SlidingWindow(4))
    with torch.no_grad():
        assert flex.backend.can_run(q, k, v, SlidingWindow(4)) is None
        q8 = torch.randn(1, 2, 64, 8)
        assert "head_dim >= 16" in flex.backend.can_run(q8, q8, q8, SlidingWindow(4))
        q64 = torch.randn(1, 2, 64, 16, dtype=torch.float64)
        assert "float16/bfloat16/float32" in flex.backend.can_run(q64, q64, q64, SlidingWindow(4))
        assert "not a mask pattern" in flex.backend.can_run(q, k, v, object())
        assert "CUDA" in flex.backend.auto_skip_reason(q, k, v, SlidingWindow(4))


def test_named_flex_with_grad_on_cpu_raises():
    q, k, v = qkv((1, 2, 64, 16), dtype=torch.float32, grad=True)
    with pytest.raises(BackendUnavailableError, match="no backward on CPU"):
        dispatch.attend(q, k, v, SlidingWindow(4), backend="flex")


@pytest.mark.slow
def test_compiled_cpu_forward_matches_reference():
    """The real kernel (compiled for CPU, ~25 s): sliding window over a length that is not a block multiple,
    and a dilated window through the residue-class plan (same mask function, so one more compile at most)."""
    q, k, v = qkv((1, 2, 300, 16), dtype=torch.float32, seed=3)
    with torch.no_grad():
        for pattern in (SlidingWindow(40), DilatedSlidingWindow(40, dilation=2)):
            out = dispatch.attend(q, k, v, pattern, backend="flex")
            ref = reference.attend(q.double(), k.double(), v.double(), pattern).float()
            torch.testing.assert_close(out, ref, rtol=2e-5, atol=2e-5)


# ------------------------------------------------------------------------------------------- 1M tokens
_MILLION = """
import resource, sys, time, torch
from genoattn.attention.backends.flex_mask import block_mask_nbytes
from genoattn.attention.backends.flex_plan import PlanOptions, build_plan
from genoattn.attention.patterns import BigBird, Longformer, SlidingWindow
pattern = {"SlidingWindow": SlidingWindow(256), "Longformer": Longformer(256, global_tokens=(0, 1000, -1)),
           "BigBird": BigBird(block_size=128, random_blocks=3)}[sys.argv[1]]
torch.ones(1)  # allocator warm
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
plan = build_plan(pattern, 1 << 20, 8, torch.device("cpu"), PlanOptions(block_size=128, narrow=True))
seconds = time.perf_counter() - start
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
held = sum(block_mask_nbytes(bm) for bm in plan.block_masks())
local = plan.block_masks()[0]  # the windowed call over all rows (globals are separate, short calls)
print(grown * 1024, held, local.kv_indices.shape[-1] + local.full_kv_indices.shape[-1], seconds)
"""


@pytest.mark.parametrize("name", ["SlidingWindow", "Longformer", "BigBird"])
def test_million_token_block_masks_stay_small(name):
    """The BlockMasks flex passes to the kernel at L = 1,048,576 (8 heads, GPU form with narrow indices),
    built on CPU: peak RSS growth of a fresh process (ru_maxrss) < 300 MiB, index tensors < 16 MiB.
    (Dense NB x NB index tensors would be 256 MiB each per head layout.)"""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _MILLION, name], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    grown, held, width, _seconds = done.stdout.split()
    assert int(grown) < 300 * 2**20, f"{name}: RSS grew {int(grown) / 2**20:.0f} MiB"
    assert int(held) < 16 * 2**20
    assert int(width) <= 16  # kv-side columns per row of the windowed call, far from the 8192 key blocks
