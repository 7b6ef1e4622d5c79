"""blocked backend vs the reference backend: outputs and gradients, every pattern, with and without ALiBi.

Tolerances: float64 1e-10 (both compute the same softmax; differences are rounding only), float32 2e-5.
"""

from __future__ import annotations

import pytest
import torch

from genoattn.attention.backends.blocked import BlockedBackend, backend, choose_block_size
from genoattn.attention.backends.reference import backend as reference
from genoattn.attention.dispatch import attend
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

HEADS = 3
SLOPES = torch.tensor([0.5, 0.25, 0.125])

PATTERNS = [
    Full(),
    Full(causal=True),
    SlidingWindow(3),
    SlidingWindow(5, causal=True),
    DilatedSlidingWindow(2, 3),
    DilatedSlidingWindow(2, 2, causal=True),
    Strided(4),
    Strided(3, causal=True),
    FixedFactorized(4, 1),
    FixedFactorized(5, 2, causal=True),
    Longformer(2, (0, -1)),
    Longformer(2, (3,), (1, 2, 3), causal=True),
    BigBird(3, 1),
    BigBird(4, 2, seed=5),
    Neighborhood(5),
    Neighborhood(3, 3),
]


def compare(pattern, length, dtype, tol, slopes=None, blocked=backend, batch=2, head_dim=5):
    torch.manual_seed(length)
    q, k, v = (torch.randn(batch, HEADS, length, head_dim, dtype=dtype, requires_grad=True) for _ in range(3))
    grad = torch.randn(batch, HEADS, length, head_dim, dtype=dtype)
    results = []
    for impl in (reference, blocked):
        out = impl.attend(q, k, v, pattern, None if slopes is None else slopes.to(dtype))
        results.append((out, *torch.autograd.grad(out, (q, k, v), grad)))
    for name, want, got in zip(("out", "dq", "dk", "dv"), *results):
        assert got.shape == want.shape
        err = (got - want).abs().max().item()
        assert err < tol, f"{pattern} L={length} {dtype} alibi={slopes is not None}: {name} differs by {err:.3g}"


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
@pytest.mark.parametrize("alibi", [False, True], ids=["plain", "alibi"])
def test_blocked_matches_reference_float64(pattern, alibi):
    for length in (37, 48):  # 37: not a multiple of any block size used
        compare(pattern, length, torch.float64, 1e-10, SLOPES if alibi else None)


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
def test_blocked_matches_reference_float32(pattern):
    compare(pattern, 45, torch.float32, 2e-5, SLOPES)


@pytest.mark.parametrize("block_size", [1, 4, 16, 64])
def test_every_block_size(block_size):
    for pattern in (SlidingWindow(4), Longformer(2, (0, 20), (1, 2, 1)), BigBird(4, 1, seed=1), Neighborhood(3, 2)):
        compare(pattern, 41, torch.float64, 1e-10, SLOPES, blocked=BlockedBackend(block_size))


def test_given_bigbird_layout():
    drawn = BigBird(4, 2, seed=9).random_layout(44, HEADS)
    compare(BigBird(4, random_layout=drawn), 44, torch.float64, 1e-10, SLOPES)
    compare(BigBird(4, random_layout=drawn[1:2]), 44, torch.float64, 1e-10)


def test_wide_and_narrow_rows_split():
    """Longformer's global query block sees everything; the other rows stay narrow."""
    compare(Longformer(4, (0, 130)), 260, torch.float64, 1e-10, batch=1, head_dim=4)


def test_block_size_choice_follows_the_window():
    assert choose_block_size(SlidingWindow(64), 4096, 4) in (32, 64, 128)
    assert choose_block_size(SlidingWindow(2), 4096, 4) in (16, 32)


def test_dispatch_and_can_run():
    q = torch.randn(1, HEADS, 20, 4)
    assert backend.can_run(q, q, q, SlidingWindow(2)) is None
    assert "block_layout" in backend.can_run(q, q, q, object())
    assert "alibi_slopes" in backend.can_run(q, q, q, SlidingWindow(2), torch.ones(2))
    assert "floating-point" in backend.can_run(q.long(), q.long(), q.long(), SlidingWindow(2))
    out = attend(q, q, q, SlidingWindow(2), backend="blocked")
    torch.testing.assert_close(out, reference.attend(q, q, q, SlidingWindow(2)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("residue", [True, False], ids=["residue-classes", "plain-layout"])
def test_dilated_patterns_on_both_paths(residue):
    blocked = BlockedBackend(residue=residue)
    for pattern in (DilatedSlidingWindow(2, 3), DilatedSlidingWindow(1, 4, causal=True), Neighborhood(3, 3)):
        for length in (37, 39, 40):  # L % d == 0 and != 0: classes of unequal length
            compare(pattern, length, torch.float64, 1e-10, SLOPES, blocked=blocked)
    compare(DilatedSlidingWindow(1, 4), 3, torch.float64, 1e-10, blocked=blocked)  # L < d: empty classes
    assert Neighborhood(5, 2).residue_split() == (2, Neighborhood(5))
    assert DilatedSlidingWindow(3, 2, causal=True).residue_split() == (2, SlidingWindow(3, causal=True))
    assert SlidingWindow(3).residue_split() is None
