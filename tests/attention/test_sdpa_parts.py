"""The SDPA-parts backend (FixedFactorized as two dense flash calls) and the dense flash helpers against the
reference.

CPU: SDPA's CPU flash kernels, float64 (exact to rounding: the merges and the backward from the final output
and log-sum-exp are exact), float32, q/k/v as strided views of one projection, calls split over the CUDA grid
limit; BigBird's global rows (``EdgeRows``); refusals. GPU (``gpu`` mark): the CUDA flash kernels in bfloat16,
FixedFactorized at 1M tokens (more blocks than the grid limit).
"""

from __future__ import annotations

import pytest
import torch

from genoattn.attention import dense_flash
from genoattn.attention.backends.reference import backend as reference
from genoattn.attention.backends.sdpa_parts import backend
from genoattn.attention.dense_flash import EdgeRows
from genoattn.attention.merge import merge_lse_dim
from genoattn.attention.patterns import BigBird, FixedFactorized, Full, SlidingWindow


def errors(pattern, q, k, v, grad, dtype):
    """Largest absolute error of the output and of dq, dk, dv against the float64 reference."""
    leaves = [t.double().detach().requires_grad_() for t in (q, k, v)]
    expected = reference.attend(*leaves, pattern)
    expected_grads = torch.autograd.grad(expected, leaves, grad.double())
    low = [t.to(dtype).detach().requires_grad_() for t in (q, k, v)]
    assert backend.can_run(*low, pattern) is None
    out = backend.attend(*low, pattern)
    grads = torch.autograd.grad(out, low, grad.to(dtype))
    return [(out.double() - expected).abs().max().item()] + [
        (a.double() - b).abs().max().item() for a, b in zip(grads, expected_grads)]


@pytest.mark.parametrize(("pattern", "length"), [
    (FixedFactorized(8, summary=2), 32), (FixedFactorized(16, summary=5), 48), (FixedFactorized(4, summary=1), 4),
    (FixedFactorized(32, summary=31), 64),
], ids=str)
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-12), (torch.float32, 2e-6)], ids=str)
def test_matches_reference(pattern, length, dtype, tolerance):
    torch.manual_seed(0)
    q, k, v, grad = (torch.randn(2, 3, length, 16, dtype=torch.float64) for _ in range(4))
    assert max(errors(pattern, q, k, v, grad, dtype)) < tolerance


def test_strided_views_of_one_projection():
    torch.manual_seed(1)
    qkv = torch.randn(2, 48, 3, 4, 16, dtype=torch.float64)  # [B, L, 3, H, D], as a model's projection
    q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))  # [B, H, L, D] views, not contiguous
    assert not q.is_contiguous()
    grad = torch.randn(2, 4, 48, 16, dtype=torch.float64)
    assert max(errors(FixedFactorized(12, summary=3), q, k, v, grad, torch.float64)) < 1e-12


def test_calls_split_over_the_grid_limit(monkeypatch):
    """More batch-heads than CUDA's grid allows run as several flash calls: same result as one call."""
    torch.manual_seed(2)
    q, k, v, grad = (torch.randn(1, 3, 40, 8, dtype=torch.float64) for _ in range(4))
    whole = errors(FixedFactorized(8, summary=2), q, k, v, grad, torch.float64)
    monkeypatch.setattr(dense_flash, "GRID_LIMIT", 4)  # the own-block part has 3 * 5 = 15 heads: 4 calls
    split = errors(FixedFactorized(8, summary=2), q, k, v, grad, torch.float64)
    assert max(split) < 1e-12 and max(whole) < 1e-12


@pytest.mark.parametrize(("block", "length"), [(4, 24), (8, 64), (16, 48)])
def test_edge_rows_against_every_key(block, length):
    """EdgeRows: the first and last ``block`` rows against every key, keys in chunks merged; the backward's share
    given the final output and log-sum-exp equals dense attention's gradients when those rows are the whole
    pattern."""
    torch.manual_seed(3)
    q, k, v, grad = (torch.randn(2, 3, length, 8, dtype=torch.float64) for _ in range(4))
    edges = EdgeRows(length, block)
    assert length // block % edges.chunks == 0
    leaves = [t.clone().requires_grad_() for t in (edges.take(q), k, v)]
    expected = torch.nn.functional.scaled_dot_product_attention(*leaves)
    edge_grad = edges.take(grad)
    expected_grads = torch.autograd.grad(expected, leaves, edge_grad)
    scale = 8 ** -0.5
    out_chunks, lse_chunks, state = edges.per_chunk(q, k, v, scale)
    out_rows, lse_rows = merge_lse_dim(out_chunks.unflatten(1, (3, edges.chunks)),
                                       lse_chunks.unflatten(1, (3, edges.chunks)), dim=2)
    assert (out_rows - expected).abs().max() < 1e-12
    out, lse = torch.zeros_like(q), torch.full(q.shape[:3], float("inf"), dtype=torch.float64)
    edges.put(out, out_rows)
    edges.put(lse, lse_rows)
    full_grad = torch.zeros_like(grad)
    edges.put(full_grad, edge_grad)
    dq, dk, dv = edges.backward(full_grad, q, k, v, out, lse, state, scale)
    for got, want in zip((dq, dk, dv), expected_grads):
        assert (got - want).abs().max() < 1e-12


def test_refusals():
    q = torch.zeros(1, 2, 64, 16)
    assert "(FixedFactorized, Full)" in backend.can_run(q, q, q, SlidingWindow(4))
    assert "CUDA only" in backend.can_run(q, q, q, Full())  # on CPU, blocked runs Full
    assert "BigBird has no dense-parts plan" in backend.can_run(q, q, q, BigBird(block_size=16))
    assert "causal" in backend.can_run(q, q, q, FixedFactorized(16, summary=2, causal=True))
    assert "multiple of the block" in backend.can_run(q[:, :, :60], q[:, :, :60], q[:, :, :60],
                                                      FixedFactorized(16, summary=2))
    assert "ALiBi" in backend.can_run(q, q, q, FixedFactorized(16, summary=2), torch.ones(2))
    assert "0 < summary < block" in backend.can_run(q, q, q, FixedFactorized(16, summary=0))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize(("pattern", "length"), [(FixedFactorized(128, summary=8), 4096),
                                                 (FixedFactorized(64, summary=16), 2048)], ids=str)
def test_gpu_matches_reference(pattern, length):
    torch.manual_seed(0)
    q, k, v, grad = (torch.randn(1, 8, length, 64, device="cuda", dtype=torch.float64) for _ in range(4))
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    expected = reference.attend(*leaves, pattern)
    expected_grads = torch.autograd.grad(expected, leaves, grad)
    low = [t.bfloat16().requires_grad_() for t in (q, k, v)]
    out = backend.attend(*low, pattern)
    grads = torch.autograd.grad(out, low, grad.bfloat16())

    def rel(a, b):
        return ((a.double() - b).norm() / b.norm()).item()

    assert rel(out, expected) < 1.5e-2
    for got, want in zip(grads, expected_grads):
        assert rel(got, want) < 3e-2


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_more_blocks_than_the_grid_limit():
    """8 heads x 8,200 blocks of 8 = 65,600 batch-heads in the own-block part (over CUDA's 65,535): split calls,
    checked on 48 query rows against a float64 computation of those rows only."""
    torch.manual_seed(3)
    pattern, length = FixedFactorized(8, summary=2), 8 * 8200
    q, k, v = (torch.randn(1, 8, length, 32, device="cuda", dtype=torch.bfloat16, requires_grad=True)
               for _ in range(3))
    out = backend.attend(q, k, v, pattern)
    rows = torch.cat([torch.arange(16), torch.arange(32000, 32016), torch.arange(length - 16, length)]).cuda()
    grad = torch.randn(1, 8, rows.numel(), 32, device="cuda", dtype=torch.float64)
    got = torch.autograd.grad((out[:, :, rows].double() * grad).sum(), (q, k, v))
    leaves = [t.detach().double().requires_grad_() for t in (q, k, v)]
    mask = pattern.mask_mod_for(length)(None, None, rows.view(-1, 1), torch.arange(length, device="cuda"))
    scores = (leaves[0][:, :, rows] @ leaves[1].transpose(-1, -2)) / 32 ** 0.5  # [1, 8, rows, L]
    expected = scores.masked_fill(~mask, float("-inf")).softmax(-1) @ leaves[2]
    want = torch.autograd.grad((expected * grad).sum(), leaves)
    assert ((out[:, :, rows].double() - expected).norm() / expected.norm()).item() < 1.5e-2
    for a, b in zip(got, want):
        assert ((a.double() - b).norm() / b.norm()).item() < 3e-2
