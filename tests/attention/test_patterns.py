"""Patterns: mask_mod == dense_mask == the docs/design.md 2.3 formula written afresh here (plain loops, tiny L)."""

from __future__ import annotations

import pytest
import torch

from genoattn.attention.patterns import (
    BigBird,
    DilatedSlidingWindow,
    FixedFactorized,
    Full,
    Longformer,
    Neighborhood,
    SlidingWindow,
    Strided,
    from_residue_classes,
    mask_from_mod,
    to_residue_classes,
)
from genoattn.errors import InputError


def spec_visible(p: object, length: int, num_heads: int, h: int, i: int, j: int) -> bool:
    """docs/design.md 2.3 "Exact semantics", one (head, i, j) at a time."""
    causal_ok = j <= i or not getattr(p, "causal", False)
    if isinstance(p, Full):
        return causal_ok
    if isinstance(p, SlidingWindow):
        return abs(i - j) <= p.window and causal_ok
    if isinstance(p, DilatedSlidingWindow):
        d = p.dilation
        return abs(i - j) <= p.window * d and (i - j) % d == 0 and causal_ok
    if isinstance(p, Strided):
        return (abs(i - j) <= p.stride or (i - j) % p.stride == 0) and causal_ok
    if isinstance(p, FixedFactorized):
        l, c = p.block, p.summary
        return (i // l == j // l or j % l >= l - c) and causal_ok
    if isinstance(p, Longformer):
        d = p.dilation if isinstance(p.dilation, int) else p.dilation[h]
        glob = {t % length for t in p.global_tokens}
        local = abs(i - j) <= p.window * d and (i - j) % d == 0
        return (local or i in glob or j in glob) and causal_ok
    if isinstance(p, BigBird):
        b = p.block_size
        nb = -(-length // b)
        qb, kb = i // b, j // b
        rand = p.random_layout(length, num_heads)[h, qb].tolist()
        return abs(qb - kb) <= 1 or qb in (0, nb - 1) or kb in (0, nb - 1) or kb in rand
    if isinstance(p, Neighborhood):
        k, d = p.kernel_size, p.dilation
        g = i % d
        class_length = len(range(g, length, d))
        c = i // d
        start = min(max(c - k // 2, 0), class_length - k)
        return j % d == g and start <= j // d < start + k
    raise AssertionError(f"no formula for {p}")


def spec_mask(p: object, length: int, num_heads: int) -> torch.Tensor:
    out = torch.zeros(num_heads, length, length, dtype=torch.bool)
    for h in range(num_heads):
        for i in range(length):
            for j in range(length):
                out[h, i, j] = spec_visible(p, length, num_heads, h, i, j)
    return out


CASES = [
    (Full(), (1, 5, 13)),
    (Full(causal=True), (1, 5, 13)),
    (SlidingWindow(0), (1, 7)),
    (SlidingWindow(3), (1, 5, 13, 20)),
    (SlidingWindow(2, causal=True), (5, 13, 20)),
    (DilatedSlidingWindow(2, 3), (5, 13, 20)),
    (DilatedSlidingWindow(1, 2, causal=True), (5, 13, 20)),
    (Strided(4), (5, 13, 20)),
    (Strided(3, causal=True), (5, 13, 20)),
    (FixedFactorized(4, 1), (5, 13, 20)),
    (FixedFactorized(5, 2, causal=True), (5, 13, 20)),
    (FixedFactorized(3, 0), (7, 13)),
    (Longformer(2), (5, 13, 20)),
    (Longformer(1, (0, -1, 7), 2), (9, 13, 20)),
    (Longformer(2, (3,), causal=True), (5, 13, 20)),
    (BigBird(2, 0), (1, 5, 13)),
    (BigBird(3, 1, seed=4), (16, 20)),
    (Neighborhood(1), (3, 13)),
    (Neighborhood(5), (5, 13, 20)),
    (Neighborhood(3, 2), (6, 13, 20)),
    (Neighborhood(3, 4), (12, 13, 20)),
]


@pytest.mark.parametrize("pattern, lengths", CASES, ids=[str(c[0]) for c in CASES])
def test_mask_mod_equals_dense_mask_equals_formula(pattern, lengths):
    for length in lengths:
        expected = spec_mask(pattern, length, 2)  # [2, L, L]
        dense = pattern.dense_mask(length, 2)
        assert dense.dtype == torch.bool and dense.shape[1:] == (length, length)
        assert torch.equal(dense.expand(2, -1, -1), expected), (str(pattern), length)
        from_mod = mask_from_mod(pattern.mask_mod_for(length, 2), length, 2)
        assert torch.equal(from_mod, expected), (str(pattern), length)


@pytest.mark.parametrize(
    "pattern",
    [Longformer(2, (0,), (1, 2, 3)), Longformer(1, (-1, 4), (3, 1, 2), causal=True), BigBird(2, 2, seed=7)],
    ids=str,
)
def test_per_head_patterns(pattern):
    length = 18
    expected = spec_mask(pattern, length, 3)
    assert torch.equal(pattern.dense_mask(length, 3), expected)
    assert torch.equal(mask_from_mod(pattern.mask_mod_for(length, 3), length, 3), expected)
    assert not torch.equal(expected[0], expected[1])  # the heads do differ


def test_causal_masks_are_lower_triangular():
    for pattern in [Full(True), SlidingWindow(3, True), Strided(3, True), Longformer(2, (5,), causal=True)]:
        mask = pattern.dense_mask(16)
        assert not torch.triu(mask[0], diagonal=1).any(), str(pattern)


def test_neighborhood_sees_exactly_k_keys():
    for k, d in [(1, 1), (3, 1), (7, 1), (3, 2), (5, 3), (3, 5)]:
        for length in range(k * d, k * d + 12):
            mask = Neighborhood(k, d).dense_mask(length)
            assert (mask.sum(-1) == k).all(), (k, d, length)


def test_neighborhood_window_shifts_at_edges():
    mask = Neighborhood(5).dense_mask(12)[0]
    assert mask[0].nonzero().flatten().tolist() == [0, 1, 2, 3, 4]
    assert mask[11].nonzero().flatten().tolist() == [7, 8, 9, 10, 11]
    assert mask[6].nonzero().flatten().tolist() == [4, 5, 6, 7, 8]


def test_bigbird_random_layout_reproducible_and_valid():
    p = BigBird(block_size=4, random_blocks=3, seed=11)
    length, heads = 64, 4
    nb = 16
    layout = p.random_layout(length, heads)
    assert layout.shape == (heads, nb, 3) and layout.dtype == torch.int64
    assert torch.equal(layout, BigBird(4, 3, seed=11).random_layout(length, heads))
    assert not torch.equal(layout, BigBird(4, 3, seed=12).random_layout(length, heads))
    assert not torch.equal(layout[0], layout[1])  # drawn per head
    assert (layout[:, 0] == -1).all() and (layout[:, -1] == -1).all()
    for h in range(heads):
        for qb in range(1, nb - 1):
            row = layout[h, qb].tolist()
            assert len(set(row)) == 3
            assert not set(row) & {0, nb - 1, qb - 1, qb, qb + 1}
            assert all(0 <= kb < nb for kb in row)


def test_bigbird_random_layout_accepted_back():
    drawn = BigBird(4, 2, seed=3).random_layout(48, 2)
    given = BigBird(4, random_layout=drawn, seed=99)
    assert given.random_blocks == 2
    assert torch.equal(given.random_layout(48, 2), drawn)
    assert torch.equal(given.dense_mask(48, 2), BigBird(4, 2, seed=3).dense_mask(48, 2))
    assert given == BigBird(4, random_layout=drawn.clone(), seed=99)
    assert hash(given) == hash(BigBird(4, random_layout=drawn.clone(), seed=99))
    assert given != BigBird(4, 2, seed=99)
    with pytest.raises(InputError, match="L and heads"):
        given.random_layout(64, 2)
    shared = BigBird(4, random_layout=drawn[:1])  # one layout for every head
    assert torch.equal(shared.random_layout(48, 3), drawn[:1].expand(3, -1, -1))
    assert shared.block_layout(48, 8, 3).indices.shape[0] == 1
    bad = drawn.clone()
    bad[0, 5, 0] = 5  # its own window block
    with pytest.raises(InputError, match="window or global"):
        BigBird(4, random_layout=bad).dense_mask(48, 2)


def test_bigbird_too_many_random_blocks():
    with pytest.raises(InputError, match="random_blocks=3"):
        BigBird(4, 3).random_layout(24, 1)  # 6 blocks: middle rows have only 1 free block


def test_residue_class_helpers():
    x = torch.randn(2, 3, 11, 4)
    for d in (1, 2, 3, 4, 11, 12):
        y, lengths = to_residue_classes(x, d)
        assert y.shape == (2 * d, 3, -(-11 // d), 4)
        assert lengths.tolist() == [len(range(g, 11, d)) for g in range(d)]
        for g in range(d):
            assert torch.equal(y[g * 2 : (g + 1) * 2, :, : lengths[g]], x[:, :, g::d])
            assert (y[g * 2 : (g + 1) * 2, :, lengths[g] :] == 0).all()
        assert torch.equal(from_residue_classes(y, d, 11), x)
    assert DilatedSlidingWindow(2, 3).residue_classes(11) == [(0, 4), (1, 4), (2, 3)]
    assert Neighborhood(3, 3).residue_classes(10) == [(0, 4), (1, 3), (2, 3)]


def test_dilated_window_is_sliding_window_on_residue_classes():
    length, d = 23, 3
    dense = DilatedSlidingWindow(2, d).dense_mask(length)[0]
    for g, lg in DilatedSlidingWindow(2, d).residue_classes(length):
        assert torch.equal(dense[g::d, g::d], SlidingWindow(2).dense_mask(lg)[0])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SlidingWindow(-1), "window"),
        (lambda: SlidingWindow(2.5), "window"),
        (lambda: SlidingWindow(2, causal="yes"), "causal"),
        (lambda: DilatedSlidingWindow(2, 0), "dilation"),
        (lambda: Strided(0), "stride"),
        (lambda: FixedFactorized(4, 5), "summary"),
        (lambda: FixedFactorized(0, 0), "block"),
        (lambda: Longformer(2, (0,), 0), "dilation"),
        (lambda: Longformer(2, (0,), ()), "dilation"),
        (lambda: Longformer(2, 0), "global_tokens"),
        (lambda: BigBird(0), "block_size"),
        (lambda: BigBird(4, -1), "random_blocks"),
        (lambda: Neighborhood(4), "odd"),
        (lambda: Neighborhood(3, 0), "dilation"),
    ],
)
def test_parameter_validation(make, message):
    with pytest.raises(InputError, match=message):
        make()


def test_validation_at_use_time():
    with pytest.raises(InputError, match="global token 9"):
        Longformer(2, (9,)).dense_mask(8)
    with pytest.raises(InputError, match="global token -9"):
        Longformer(2, (-9,)).block_layout(8, 4)
    with pytest.raises(InputError, match="num_heads=2"):
        Longformer(2, (0,), (1, 2, 3)).dense_mask(8, 2)
    with pytest.raises(InputError, match="L >= 9"):
        Neighborhood(3, 3).dense_mask(8)
    with pytest.raises(InputError, match="length"):
        SlidingWindow(2).dense_mask(0)


def test_readable_strings_and_hashable():
    assert str(SlidingWindow(64, causal=True)) == "SlidingWindow(window=64, causal)"
    assert str(Longformer(4, (0, -1), (1, 2))) == "Longformer(window=4, global_tokens=(0, -1), dilation=(1, 2))"
    assert str(Neighborhood(7, 2)) == "Neighborhood(kernel_size=7, dilation=2)"
    assert "random_blocks=3" in repr(BigBird())
    patterns = [p for p, _ in CASES]
    assert len({hash(p) for p in patterns}) == len(patterns)
    assert Longformer(2, [0, 5]) == Longformer(2, (0, 5))
