"""The SDPA-parts backend (FixedFactorized and BigBird as a few dense flash calls) against the reference.

CPU: SDPA's CPU flash kernels, float64 (exact to rounding: the merges and the backward from the final output
and log-sum-exp are exact), float32, q/k/v as strided views of one projection, BigBird with a given random
layout; refusals. GPU (``gpu`` mark): the CUDA flash kernels in bfloat16.
"""

from __future__ import annotations

import pytest
import torch

from genoattn.attention.backends.reference import backend as reference
from genoattn.attention.backends.sdpa_parts import backend
from genoattn.attention.patterns import BigBird, FixedFactorized, SlidingWindow


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
    (BigBird(block_size=4, random_blocks=1, seed=3), 24), (BigBird(block_size=8, random_blocks=2), 64),
    (BigBird(block_size=4, random_blocks=0), 20), (BigBird(block_size=2, random_blocks=3, seed=5), 40),
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


def test_bigbird_with_a_given_random_layout():
    torch.manual_seed(2)
    drawn = BigBird(block_size=4, random_blocks=2, seed=9).random_layout(32, 3)
    pattern = BigBird(block_size=4, random_layout=drawn.flip(0))  # other heads' blocks: a layout no seed drew
    q, k, v, grad = (torch.randn(1, 3, 32, 8, dtype=torch.float64) for _ in range(4))
    assert max(errors(pattern, q, k, v, grad, torch.float64)) < 1e-12


def test_refusals():
    q = torch.zeros(1, 2, 64, 16)
    assert "FixedFactorized, BigBird" in backend.can_run(q, q, q, SlidingWindow(4))
    assert "at least 5 blocks" in backend.can_run(q, q, q, BigBird(block_size=16, random_blocks=0))
    assert "multiple of the block" in backend.can_run(q[:, :, :60], q[:, :, :60], q[:, :, :60],
                                                      BigBird(block_size=8, random_blocks=1))
    assert "causal" in backend.can_run(q, q, q, FixedFactorized(16, summary=2, causal=True))
    assert "multiple of the block" in backend.can_run(q[:, :, :60], q[:, :, :60], q[:, :, :60],
                                                      FixedFactorized(16, summary=2))
    assert "ALiBi" in backend.can_run(q, q, q, FixedFactorized(16, summary=2), torch.ones(2))
    assert "0 < summary < block" in backend.can_run(q, q, q, FixedFactorized(16, summary=0))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize(("pattern", "length"), [(FixedFactorized(128, summary=8), 4096),
                                                 (FixedFactorized(64, summary=16), 2048),
                                                 (BigBird(block_size=128, random_blocks=3), 4096),
                                                 (BigBird(block_size=64, random_blocks=2, seed=1), 2048)], ids=str)
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
