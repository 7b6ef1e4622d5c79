"""Context-parallel attention on 2-4 gloo processes equals single-device attention (float64, forward and grads)."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from genoattn.attention import attend
from genoattn.attention.context_parallel import Shards, attend_sharded, unsupported_reason
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
from genoattn.errors import InputError
from genoattn.models.positions import alibi_slopes

HEADS, DIM = 2, 4
CASES = [  # (pattern, length, alibi)
    (SlidingWindow(3), 37, False),
    (SlidingWindow(2, causal=True), 37, True),
    (DilatedSlidingWindow(2, dilation=3), 37, True),
    (DilatedSlidingWindow(1, dilation=2, causal=True), 36, False),
    (Neighborhood(3, dilation=2), 37, False),
    (Neighborhood(5, dilation=2), 40, True),  # halo 16 reaches past the next rank
    (Longformer(2, global_tokens=(0, -1, 7)), 37, False),
    (Longformer(2, global_tokens=(0, 20), causal=True), 37, False),
    (Longformer(2, global_tokens=(3,), dilation=(1, 2)), 37, False),
    (Longformer(3, global_tokens=()), 37, True),
    (BigBird(block_size=4, random_blocks=2, seed=1), 37, False),
    (BigBird(block_size=3, random_blocks=1), 30, True),
]


def _check_case(pattern, length: int, alibi: bool, rank: int, world: int) -> None:
    gen = torch.Generator().manual_seed(length)
    q, k, v, weight = (torch.randn(2, HEADS, length, DIM, generator=gen, dtype=torch.float64) for _ in range(4))
    slopes = alibi_slopes(HEADS).double() if alibi else None
    full = [t.clone().requires_grad_() for t in (q, k, v)]
    expected = attend(*full, pattern, backend="reference", alibi_slopes=slopes)
    (expected * weight).sum().backward()
    shards = Shards.even(length, world, rank)
    s, e = shards.start, shards.end
    local = [t[..., s:e, :].clone().requires_grad_() for t in (q, k, v)]
    out = attend_sharded(*local, pattern, shards, backend="reference", alibi_slopes=slopes)
    (out * weight[..., s:e, :]).sum().backward()
    torch.testing.assert_close(out, expected[..., s:e, :], rtol=0, atol=1e-10, msg=f"{pattern} rank {rank} out")
    for name, mine, whole in zip("qkv", local, full):
        torch.testing.assert_close(mine.grad, whole.grad[..., s:e, :], rtol=0, atol=1e-10,
                                   msg=f"{pattern} rank {rank} d{name}")


def _worker(rank: int, world: int, init_file: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        for pattern, length, alibi in CASES:
            _check_case(pattern, length, alibi, rank, world)
        dist.barrier()  # no rank tears gloo down while a peer still talks to it (SIGABRT under load)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("world", [2, 3, 4])
def test_sharded_attention_equals_single_device(world, tmp_path):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(_worker, args=(world, str(tmp_path / "init")), nprocs=world, join=True)


def test_patterns_without_a_halo_are_refused_with_the_reason():
    for spec in (Full(), Strided(4), FixedFactorized(4)):
        assert "no context-parallel form" in unsupported_reason(spec)
    assert "ALiBi" in unsupported_reason(Longformer(2, global_tokens=(0,)), alibi=True)
    assert unsupported_reason(Longformer(2, global_tokens=()), alibi=True) is None
    q = torch.zeros(1, 1, 4, 2)
    with pytest.raises(InputError, match="context parallel: Full has no context-parallel form"):
        attend_sharded(q, q, q, Full(), Shards(((0, 4),), 0))


def test_shards_split_unevenly_and_refuse_empty_ones():
    assert Shards.even(10, 3, 0).bounds == ((0, 3), (3, 6), (6, 10))
    with pytest.raises(InputError, match="cannot be split"):
        Shards.even(2, 3, 0)
