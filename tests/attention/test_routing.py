"""Routing attention against the same clusters computed independently, one cluster at a time."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from genoattn.attention.routing import Routing
from genoattn.errors import ConfigError, InputError


def _qkv(shape, dtype=torch.float64, seed=0, dv=None):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*shape, generator=g, dtype=dtype)
    k = torch.randn(*shape, generator=g, dtype=dtype)
    v = torch.randn(*shape[:-1], dv or shape[-1], generator=g, dtype=dtype)
    return q, k, v


def _top(x, centroid, width):
    """Positions of the `width` rows of x [L, D] most similar (unit vectors) to centroid [D]."""
    sim = F.normalize(x, dim=-1) @ F.normalize(centroid, dim=-1)  # [L]
    return torch.argsort(sim, descending=True, stable=True)[:width]


def routing_loop(q, k, v, centroids, window):
    """Routing of docs/design.md 2.3 written as loops over batch, head and cluster, dense softmax per cluster."""
    batch, heads, length, dim = q.shape
    width = min(window, length)
    out = torch.zeros(*q.shape[:-1], v.shape[-1], dtype=q.dtype)
    for b in range(batch):
        for h in range(heads):
            total = torch.zeros(length, v.shape[-1], dtype=q.dtype)
            count = torch.zeros(length, dtype=q.dtype)
            for c in range(centroids.shape[1]):
                qi = _top(q[b, h], centroids[h, c], width)
                ki = _top(k[b, h], centroids[h, c], width)
                probs = torch.softmax(q[b, h, qi] @ k[b, h, ki].T / math.sqrt(dim), dim=-1)  # [w, w]
                total = total.index_add(0, qi, probs @ v[b, h, ki])
                count = count.index_add(0, qi, torch.ones(width, dtype=q.dtype))
            out[b, h] = total / (count[:, None] + 1e-5)
    return out


def _module(heads=3, dim=8, clusters=4, window=6, **kw):
    module = Routing(dim, num_clusters=clusters, window=window, num_heads=heads, seed=0, **kw).double().eval()
    module.set_centroids(torch.randn(heads, clusters, dim, generator=torch.Generator().manual_seed(9)))
    return module


@pytest.mark.parametrize(("length", "window"), [(20, 6), (33, 9), (5, 8)])
def test_matches_per_cluster_loop(length, window):
    q, k, v = _qkv((2, 3, length, 8), dv=5)
    module = _module(window=window)
    out = module(q, k, v)
    assert out.shape == (2, 3, length, 5) and out.dtype == torch.float64
    want = routing_loop(q, k, v, module.centroids, window)
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)


def test_gradients_match_per_cluster_loop():
    q, k, v = _qkv((2, 3, 21, 8), seed=1)
    module = _module(window=7)
    weight = torch.linspace(-1, 1, 8, dtype=torch.float64)
    grads = []
    for fn in (module, lambda a, b, c: routing_loop(a, b, c, module.centroids, 7)):
        inputs = [t.clone().requires_grad_() for t in (q, k, v)]
        (fn(*inputs) * weight).sum().backward()
        grads.append([t.grad for t in inputs])
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_gradcheck_with_fixed_routing():
    q, k, v = _qkv((1, 2, 9, 4), seed=2, dv=3)
    module = _module(heads=2, dim=4, clusters=3, window=4)
    assert torch.autograd.gradcheck(module, tuple(t.requires_grad_() for t in (q, k, v)), eps=1e-6, atol=1e-7)


def test_unrouted_queries_get_zero_and_multiply_routed_are_averaged():
    q, k, v = _qkv((1, 1, 30, 4), seed=3)
    module = _module(heads=1, dim=4, clusters=2, window=3)
    out = module(q, k, v)
    q_index = module.route(q, k)[0]  # [1, 1, 2, 3]
    routed = torch.zeros(30, dtype=torch.bool)
    routed[q_index.flatten()] = True
    assert routed.sum() <= 6
    assert torch.equal(out[0, 0, ~routed], torch.zeros((~routed).sum().item(), 4, dtype=torch.float64))
    assert (out[0, 0, routed].abs().sum(dim=-1) > 0).all()


def test_bf16_runs_and_follows_float64():
    q, k, v = _qkv((1, 2, 24, 8), seed=4)
    module = _module(heads=2, window=6)
    out = module.float()(q.bfloat16(), k.bfloat16(), v.bfloat16())
    assert out.dtype == torch.bfloat16
    want = routing_loop(*(t.bfloat16().double() for t in (q, k, v)), module.centroids.double(), 6)
    torch.testing.assert_close(out.double(), want, rtol=2e-2, atol=2e-2)


def test_ema_one_step_formula_and_eval_freezes():
    q, k, v = _qkv((2, 2, 16, 4), seed=5)
    module = _module(heads=2, dim=4, clusters=8, window=4, ema_decay=0.9)
    before = module.centroids.clone()
    module(q, k, v)
    assert torch.equal(module.centroids, before)  # eval mode: no update
    module.train()(q, k, v)
    points = F.normalize(torch.cat([q, k], dim=2), dim=-1)  # [B, H, 2L, D]
    for h in range(2):
        x = points[:, h].reshape(-1, 4)  # every batch entry's queries and keys
        nearest = (x @ F.normalize(before[h], dim=-1).T).argmax(dim=-1)
        for c in range(8):
            members = x[nearest == c]
            want = before[h, c] if len(members) == 0 else 0.9 * before[h, c] + 0.1 * F.normalize(members.sum(0), dim=0)
            torch.testing.assert_close(module.centroids[h, c], want, rtol=1e-12, atol=1e-12)


def test_ema_moves_centroids_to_data_means():
    g = torch.Generator().manual_seed(6)
    means = torch.eye(4, dtype=torch.float64)[:2] * 3.0  # two well separated directions
    labels = torch.arange(40) % 2

    def data():
        x = means[labels] + 0.3 * torch.randn(40, 4, generator=g, dtype=torch.float64)
        return x.view(1, 1, 40, 4)

    module = _module(heads=1, dim=4, clusters=2, window=10, ema_decay=0.8).train()
    module.set_centroids(torch.tensor([[[1.0, 0.6, 0.2, -0.3], [0.5, 1.0, -0.2, 0.1]]]))
    start_error = (F.normalize(module.centroids[0], dim=-1) - torch.eye(4)[:2]).norm(dim=-1)
    for _ in range(60):
        module(data(), data(), data())
    error = (F.normalize(module.centroids[0], dim=-1) - torch.eye(4, dtype=torch.float64)[:2]).norm(dim=-1)
    assert (start_error > 0.3).all() and (error < 0.1).all(), (start_error, error)


def test_deterministic_given_seed_and_inputs():
    q, k, v = _qkv((2, 2, 40, 8), dtype=torch.float32, seed=7)
    outs, cents = [], []
    for _ in range(2):
        module = Routing(8, num_clusters=5, window=8, num_heads=2, seed=3).train()
        outs.append(module(q, k, v))
        cents.append(module.centroids.clone())
    assert torch.equal(outs[0], outs[1]) and torch.equal(cents[0], cents[1])
    other = Routing(8, num_clusters=5, window=8, num_heads=2, seed=4)
    assert not torch.equal(other.centroids, Routing(8, num_clusters=5, window=8, num_heads=2, seed=3).centroids)


def test_rejects_bad_inputs_and_config():
    module = Routing(4, num_clusters=2, window=3, num_heads=2)
    with pytest.raises(InputError, match="\\[B, 2, L, 4\\]"):
        module(torch.randn(1, 3, 5, 4), torch.randn(1, 3, 5, 4), torch.randn(1, 3, 5, 4))
    with pytest.raises(InputError):
        module.set_centroids(torch.randn(2, 3, 4))
    with pytest.raises(ConfigError, match="bidirectional"):
        Routing(4, num_clusters=2, window=3, num_heads=2, causal=True)
    with pytest.raises(ConfigError):
        Routing(4, num_clusters=0, window=3, num_heads=2)
    with pytest.raises(ConfigError):
        Routing(4, num_clusters=2, window=3, num_heads=2, ema_decay=1.0)
