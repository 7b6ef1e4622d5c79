"""Each pattern's facts (``visible_pairs``, ``layer_radius``, ``residue_split``, ``global_positions``,
``local_bands``, BigBird's ``row_key_blocks``) equal what its dense mask says, at small L."""

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
    Pattern,
    SlidingWindow,
    Strided,
)
from genoattn.attention.patterns.band import Band

PATTERNS = [
    Full(), Full(causal=True),
    SlidingWindow(0), SlidingWindow(6), SlidingWindow(4, causal=True),
    DilatedSlidingWindow(3, dilation=4), DilatedSlidingWindow(2, dilation=3, causal=True), DilatedSlidingWindow(2),
    Neighborhood(5), Neighborhood(kernel_size=9, dilation=2), Neighborhood(3, 3),
    Strided(7), Strided(5, causal=True), Strided(1),
    FixedFactorized(8, summary=3), FixedFactorized(6, summary=2, causal=True), FixedFactorized(5, summary=0),
    Longformer(4, global_tokens=(0, 7, -1)), Longformer(3, global_tokens=(2,), dilation=(1, 3), causal=True),
    Longformer(2, global_tokens=(), dilation=2), Longformer(3, global_tokens=(5,), dilation=(2, 2), causal=True),
    BigBird(block_size=8, random_blocks=2, seed=3), BigBird(block_size=5, random_blocks=1),
    BigBird(block_size=16, random_blocks=0),
]
LENGTHS = [57, 80]
HEADS = 2


def dense(pattern: Pattern, length: int) -> torch.Tensor:
    """bool [HEADS, L, L]."""
    return pattern.dense_mask(length, HEADS).expand(HEADS, length, length)


def distance(length: int) -> torch.Tensor:
    return (torch.arange(length)[:, None] - torch.arange(length)[None, :]).abs()


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
@pytest.mark.parametrize("length", LENGTHS)
def test_visible_pairs(pattern, length):
    assert pattern.visible_pairs(length, HEADS) == int(dense(pattern, length).sum())


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
@pytest.mark.parametrize("length", LENGTHS)
def test_layer_radius(pattern, length):
    """A bounded radius holds every visible pair (None claims no bound)."""
    mask, far = dense(pattern, length).any(0), distance(length)
    radius = pattern.layer_radius()
    assert radius is None or int(far[mask].max()) <= radius
    bounded = (SlidingWindow, DilatedSlidingWindow, Neighborhood)
    assert (radius is not None) == (isinstance(pattern, bounded) or pattern.global_positions(length).numel() == 0
                                    and isinstance(pattern, Longformer))


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
@pytest.mark.parametrize("length", LENGTHS)
def test_residue_split(pattern, length):
    """(d, inner): inner's mask on every class x[g::d], nothing across classes."""
    split = pattern.residue_split()
    if split is None:
        return
    d, inner = split
    mask = dense(pattern, length)
    pos = torch.arange(length)
    assert not mask[:, pos[:, None] % d != pos[None, :] % d].any()
    for g in range(d):
        cls = pos[g::d]
        assert torch.equal(mask[:, cls][:, :, cls], dense(inner, len(cls)))


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
@pytest.mark.parametrize("length", LENGTHS)
def test_global_positions(pattern, length):
    """Rows and columns that see and are seen by every key (causal: up to the diagonal); sorted, distinct."""
    glob = pattern.global_positions(length)
    assert torch.equal(glob, torch.unique(glob))
    mask = dense(pattern, length)
    allowed = torch.ones(length, length, dtype=torch.bool)
    if pattern.causal:
        allowed = torch.tril(allowed)
    assert torch.equal(mask[:, glob], allowed[glob].expand(HEADS, -1, -1))
    assert torch.equal(mask[:, :, glob], allowed[:, glob].expand(HEADS, -1, -1))
    expected = {Longformer: len({t % length for t in getattr(pattern, "global_tokens", ())}),
                BigBird: 0}.get(type(pattern), 0)
    if type(pattern) is not BigBird:
        assert glob.numel() == expected


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
@pytest.mark.parametrize("length", LENGTHS)
def test_local_bands(pattern, length):
    """Disjoint bands whose union with the global rows and columns is the mask."""
    bands = pattern.local_bands(length)
    if bands is None:
        assert type(pattern) in (Full, FixedFactorized, BigBird) or isinstance(pattern.dilation, tuple)
        return
    masks = [band.dense_mask(length) for band in bands]
    union = torch.zeros(length, length, dtype=torch.bool)
    for m in masks:
        assert not (union & m).any()
        union |= m
    glob = pattern.global_positions(length)
    union[glob] = True
    union[:, glob] = True
    if pattern.causal:
        union = torch.tril(union)
    assert torch.equal(union, dense(pattern, length)[0])


def test_band_examples():
    assert SlidingWindow(3, causal=True).local_bands(9) == (Band(1, 3, 0),)
    assert Neighborhood(5, 2).local_bands(20) == (Band(dilation=2, kernel_size=5),)
    assert Strided(4).local_bands(10) == (Band(1, 4, 4), Band(4, 10, 10, hole=1))


@pytest.mark.parametrize("pattern", [p for p in PATTERNS if isinstance(p, BigBird)], ids=str)
@pytest.mark.parametrize("length", [57, 80, 96])
def test_bigbird_row_key_blocks(pattern, length):
    """Each block row's listed key blocks are exactly the blocks its queries see (global rows see all)."""
    b, nb = pattern.block_size, pattern.num_blocks(length)
    keys = pattern.row_key_blocks(length, HEADS)  # [H, nb, 5 + r]
    mask = dense(pattern, length)
    for h in range(HEADS):
        for qb in range(1, nb - 1):
            listed = [int(k) for k in keys[h, qb] if k < nb]
            assert listed == sorted(set(listed))
            seen = [kb for kb in range(nb) if mask[h, qb * b, kb * b]]
            assert listed == seen


def test_defaults_of_a_pattern_without_structure():
    class Everything(Pattern):
        def dense_mask(self, length: int, num_heads: int = 1) -> torch.Tensor:
            return torch.ones(1, length, length, dtype=torch.bool)

    p = Everything()
    assert p.layer_radius() is None and p.residue_split() is None and p.local_bands(8) is None
    assert p.global_positions(8).numel() == 0 and not p.causal
    with pytest.raises(NotImplementedError, match="Everything does not count"):
        p.visible_pairs(8)
