"""Performer (FAVOR+) against a direct float64 transcription of the formula in docs/design.md, 2.3."""

from __future__ import annotations

import math

import pytest
import torch

from genoattn.attention.performer import Performer, random_features
from genoattn.errors import ConfigError, InputError


def _qkv(shape, dtype=torch.float64, scale=1.0, seed=0, dv=None):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*shape, generator=g, dtype=dtype) * scale
    k = torch.randn(*shape, generator=g, dtype=dtype) * scale
    v = torch.randn(*shape[:-1], dv or shape[-1], generator=g, dtype=dtype)
    return q, k, v


def favor_direct(q, k, v, w, causal=False):
    """docs/design.md formula, written out with L x L matrices (float64)."""
    q, k, v, w = (t.double() for t in (q, k, v, w))
    m, d = w.shape
    qs, ks = q * d**-0.25, k * d**-0.25
    proj_q, proj_k = qs @ w.T, ks @ w.T  # [B, H, L, M]
    stab_q = proj_q.amax(dim=-1, keepdim=True)  # per query row
    stab_k = proj_k.amax(dim=(-1, -2), keepdim=True)  # over all keys and features of a (batch, head)
    phi_q = m**-0.5 * (torch.exp(proj_q - (qs**2).sum(-1, keepdim=True) / 2 - stab_q) + 1e-4)
    phi_k = m**-0.5 * (torch.exp(proj_k - (ks**2).sum(-1, keepdim=True) / 2 - stab_k) + 1e-4)
    a = phi_q @ phi_k.transpose(-1, -2)  # [B, H, L, L]
    if causal:
        a = a.tril()
    return (a @ v) / a.sum(dim=-1, keepdim=True)


def exact_softmax(q, k, v):
    return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1) @ v


@pytest.mark.parametrize("chunk_size", [8192, 16, 7])
def test_matches_direct_formula(chunk_size):
    q, k, v = _qkv((2, 3, 45, 8), dv=5)
    module = Performer(8, num_features=20, seed=3, chunk_size=chunk_size).double()
    out = module(q, k, v)
    assert out.shape == (2, 3, 45, 5) and out.dtype == torch.float64
    torch.testing.assert_close(out, favor_direct(q, k, v, module.projection), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("chunk_size", "block_size"), [(8192, 128), (16, 8), (12, 5), (64, 64)])
def test_causal_matches_quadratic(chunk_size, block_size):
    q, k, v = _qkv((2, 2, 53, 8), seed=1, dv=6)
    module = Performer(8, num_features=24, causal=True, seed=4, chunk_size=chunk_size, block_size=block_size)
    module = module.double()
    out = module(q, k, v)
    torch.testing.assert_close(out, favor_direct(q, k, v, module.projection, causal=True), rtol=1e-11, atol=1e-12)


def test_batch_entries_are_independent():
    q, k, v = _qkv((3, 2, 30, 8), seed=2)
    k[1] *= 3.0  # a batch entry with much larger key projections must not change the others
    module = Performer(8, num_features=16, seed=0).double()
    full = module(q, k, v)
    torch.testing.assert_close(full[2:], module(q[2:], k[2:], v[2:]), rtol=1e-12, atol=1e-12)


def test_error_vs_softmax_shrinks_with_features():
    """Relative Frobenius error vs exact softmax attention, averaged over 8 seeds (measured, see report)."""
    errors = {}
    for m in (16, 64, 256, 1024):
        per_seed = []
        for seed in range(8):
            q, k, v = _qkv((1, 4, 64, 16), scale=0.5, seed=100 + seed)
            out = Performer(16, num_features=m, seed=seed).double()(q, k, v)
            exact = exact_softmax(q, k, v)
            per_seed.append(((out - exact).norm() / exact.norm()).item())
        errors[m] = sum(per_seed) / len(per_seed)
    values = list(errors.values())
    assert all(b < 0.8 * a for a, b in zip(values, values[1:])), errors
    assert errors[1024] < 0.3 * errors[16], errors


@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck(causal):
    q, k, v = _qkv((1, 1, 9, 4), seed=5, dv=2)
    q, k, v = (t.requires_grad_() for t in (q, k, v))
    module = Performer(4, num_features=6, causal=causal, seed=1, chunk_size=4, block_size=2).double()
    assert torch.autograd.gradcheck(module, (q, k, v), eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("causal", [False, True])
def test_gradients_match_direct_formula(causal):
    q, k, v = _qkv((2, 2, 33, 8), seed=6)
    module = Performer(8, num_features=16, causal=causal, seed=2, chunk_size=10, block_size=4).double()
    grads = []
    for fn in (module, lambda a, b, c: favor_direct(a, b, c, module.projection, causal)):
        inputs = [t.clone().requires_grad_() for t in (q, k, v)]
        (fn(*inputs) * torch.linspace(-1, 1, 8, dtype=torch.float64)).sum().backward()
        grads.append([t.grad for t in inputs])
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-11)


def test_bf16_inputs_follow_float32():
    q, k, v = _qkv((1, 2, 40, 16), dtype=torch.float32, scale=0.5, seed=7)
    module = Performer(16, num_features=32, causal=True, seed=0, chunk_size=16, block_size=8)
    out = module(q.bfloat16(), k.bfloat16(), v.bfloat16())
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    want = favor_direct(q.bfloat16(), k.bfloat16(), v.bfloat16(), module.projection, causal=True)
    torch.testing.assert_close(out.double(), want, rtol=2e-2, atol=2e-2)


def test_redraw_every_interval_training_forwards_and_seeded():
    q, k, v = _qkv((1, 1, 10, 4), dtype=torch.float32)
    a = Performer(4, num_features=8, redraw_interval=2, seed=11)
    b = Performer(4, num_features=8, redraw_interval=2, seed=11)
    seen = []  # the W each training forward used (a redraw happens at the start of a forward)
    for _ in range(5):
        a(q, k, v)
        b(q, k, v)
        seen.append(a.projection.clone())
    # forwards 1-2 use W0, 3-4 use W1, 5 uses W2
    assert torch.equal(seen[0], seen[1]) and torch.equal(seen[2], seen[3])
    assert not torch.equal(seen[1], seen[2]) and not torch.equal(seen[3], seen[4])
    torch.testing.assert_close(a.projection, b.projection, rtol=0, atol=0)  # same seed, same sequence
    a.eval()
    before = a.projection.clone()
    for _ in range(4):
        a(q, k, v)
    assert torch.equal(a.projection, before)  # eval forwards never redraw

    c = Performer(4, num_features=8, seed=12)
    assert not torch.equal(c.projection, Performer(4, num_features=8, seed=11).projection)
    c.redraw_projection(generator=torch.Generator().manual_seed(5))
    first = c.projection.clone()
    c.redraw_projection(generator=torch.Generator().manual_seed(5))
    assert torch.equal(c.projection, first)


def test_state_dict_round_trip_keeps_projection_and_redraw_counters():
    a = Performer(4, num_features=8, redraw_interval=3, seed=1)
    q, k, v = _qkv((1, 1, 6, 4), dtype=torch.float32)
    a(q, k, v)
    b = Performer(4, num_features=8, redraw_interval=3, seed=2)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.projection, b.projection)
    assert (b.calls_since_redraw, b.num_draws) == (a.calls_since_redraw, a.num_draws)


@pytest.mark.parametrize(("m", "d"), [(40, 8), (16, 16), (5, 8)])
def test_orthogonal_blocks(m, d):
    w = random_features(m, d, ortho=True, generator=torch.Generator().manual_seed(0))
    assert w.shape == (m, d)
    norms = w.norm(dim=1)
    unit = w / norms[:, None]
    for start in range(0, m, d):
        block = unit[start : start + d]
        torch.testing.assert_close(block @ block.T, torch.eye(len(block), dtype=w.dtype), rtol=0, atol=1e-12)
    assert norms.std() > 0  # rows are rescaled, not unit


def test_row_norms_are_chi_distributed():
    w = random_features(2048, 16, generator=torch.Generator().manual_seed(1))
    sq = w.norm(dim=1) ** 2  # chi-square with 16 degrees of freedom: mean 16, variance 32
    assert abs(sq.mean().item() - 16) < 0.6
    assert abs(sq.var().item() - 32) < 6


def test_set_projection_and_iid_features():
    module = Performer(4, num_features=6, ortho=False, seed=0)
    w = torch.randn(6, 4)
    module.set_projection(w)
    assert torch.equal(module.projection, w)
    with pytest.raises(InputError, match=r"\(6, 4\)"):
        module.set_projection(torch.randn(4, 6))


def test_rejects_bad_inputs_and_config():
    module = Performer(4, num_features=6)
    with pytest.raises(InputError, match="head_dim|\\[B, H, L, 4\\]"):
        module(torch.randn(1, 1, 5, 3), torch.randn(1, 1, 5, 3), torch.randn(1, 1, 5, 3))
    with pytest.raises(InputError):
        module(torch.randn(1, 1, 5, 4), torch.randn(1, 1, 6, 4), torch.randn(1, 1, 5, 4))
    with pytest.raises(ConfigError):
        Performer(4, num_features=0)
    with pytest.raises(ConfigError):
        Performer(4, redraw_interval=0)
