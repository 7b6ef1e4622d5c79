"""block_layout: exactly the key blocks the mask touches, ``full`` exactly where a block pair is all visible,
and 1M-token layouts within a memory bound (peak RSS of a fresh process, not time)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

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


def block_reduce(mask: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(touched, fully visible) bool [H, NB, NB] from a dense mask [H, L, L]."""
    heads, length, _ = mask.shape
    nb = -(-length // block_size)
    pad = nb * block_size - length
    padded = F.pad(mask, (0, pad, 0, pad)).view(heads, nb, block_size, nb, block_size)
    visible = padded.sum((2, 4))
    sizes = torch.tensor([min(block_size, length - b * block_size) for b in range(nb)])
    return visible > 0, visible == sizes[:, None] * sizes[None, :]


def full_blocks(layout) -> torch.Tensor:
    out = torch.zeros_like(layout.dense_blocks())
    valid = torch.arange(layout.indices.shape[-1]) < layout.counts.unsqueeze(-1)
    h, q, k = torch.nonzero(valid & layout.full, as_tuple=True)
    out[h, q, layout.indices[h, q, k].long()] = True
    return out


def check_layout(pattern, length: int, block_size: int, num_heads: int = 1) -> None:
    mask = pattern.dense_mask(length, num_heads)  # [H', L, L]
    layout = pattern.block_layout(length, block_size, num_heads)
    nq = -(-length // block_size)
    assert layout.indices.dtype == torch.int32 and layout.counts.dtype == torch.int32
    assert layout.indices.shape[:2] == (layout.counts.shape[0], nq) and layout.indices.shape[0] in (1, num_heads)
    touched, full = block_reduce(mask.expand(layout.indices.shape[0], -1, -1), block_size)
    assert torch.equal(layout.dense_blocks(), touched), (str(pattern), length, block_size)
    assert torch.equal(full_blocks(layout), full), (str(pattern), length, block_size)
    valid = torch.arange(layout.indices.shape[-1]) < layout.counts.unsqueeze(-1)
    assert not (layout.full & ~valid).any()
    assert (layout.indices[~valid] == 0).all()
    ordered = torch.where(valid, layout.indices, torch.iinfo(torch.int32).max)
    assert (ordered[..., 1:] > ordered[..., :-1])[valid[..., 1:]].all()  # ascending, no repeats


PATTERNS = []
for causal in (False, True):
    PATTERNS += [
        Full(causal),
        SlidingWindow(0, causal),
        SlidingWindow(3, causal),
        SlidingWindow(8, causal),
        DilatedSlidingWindow(2, 3, causal),
        DilatedSlidingWindow(1, 4, causal),
        Strided(3, causal),
        Strided(4, causal),
        FixedFactorized(4, 1, causal),
        FixedFactorized(5, 2, causal),
        FixedFactorized(3, 3, causal),
        Longformer(2, (0,), causal=causal),
        Longformer(1, (0, -1, 5, 6), 2, causal),
        Longformer(2, (3, -2), 3, causal),
    ]
PATTERNS += [BigBird(1, 0), BigBird(3, 0), BigBird(4, 1, seed=2), Neighborhood(1), Neighborhood(5), Neighborhood(3, 2)]
PATTERNS += [Neighborhood(3, 3), Neighborhood(5, 2)]


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
def test_layout_matches_dense_mask(pattern):
    if isinstance(pattern, BigBird | Neighborhood):
        lengths = (24, 31, 33)
    elif isinstance(pattern, Longformer):
        lengths = (7, 24, 31, 33)
    else:
        lengths = (1, 7, 24, 31, 33)
    for length in lengths:
        for block_size in (1, 3, 4, 5, 8, 16):
            check_layout(pattern, length, block_size)


@pytest.mark.parametrize(
    "pattern",
    [
        Longformer(1, (0,), (1, 2, 3)),
        Longformer(2, (2, -1), (2, 1, 4), causal=True),
        BigBird(2, 2, seed=3),
        BigBird(3, 1),
        BigBird(1, 3, seed=1),
    ],
    ids=str,
)
def test_per_head_layouts(pattern):
    for length in (19, 33):
        for block_size in (2, 3, 4, 8):
            check_layout(pattern, length, block_size, num_heads=3)


def test_sliding_window_layout_is_narrow():
    layout = SlidingWindow(256).block_layout(1 << 16, 128)
    assert layout.indices.shape == (1, 512, 5)
    assert layout.counts[0, 2:-2].tolist() == [5] * 508
    assert layout.full[0, 10].tolist() == [False, True, True, True, False]


MEMORY_SCRIPT = """
import json, resource, sys, time
import torch
from genoattn.attention.patterns import *
pattern, heads = eval(sys.argv[1]), int(sys.argv[2])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
layout = pattern.block_layout(1 << 20, 128, heads)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"peak_mb": peak / 1024, "shape": list(layout.indices.shape), "seconds": seconds,
                  "counts_max": int(layout.counts.max())}))
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "spec, heads, bound_mb",
    [
        # narrow rows only: O(NQ * K)
        ("SlidingWindow(256)", 8, 64),
        ("Neighborhood(9, 4)", 1, 64),
        # a global query block sees all 8192 key blocks, so the [H', NQ, K] format itself is NQ * NB * 5 bytes
        # (int32 indices + bool full) = 320 MiB; the bound allows the format plus small temporaries
        ("Longformer(256, (0, -1))", 8, 450),
        ("BigBird(64, 3)", 1, 450),
    ],
)
def test_million_token_layout_memory(spec, heads, bound_mb):
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, spec, str(heads)], capture_output=True, text=True, check=True
    )
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    assert stats["shape"][1] == 8192
    assert stats["peak_mb"] < bound_mb, stats
