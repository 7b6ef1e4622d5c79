"""Full attention: every query sees every key (``causal=True``: every key j <= i)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from genoattn.attention.patterns.base import (
    BlockLayout,
    Pattern,
    check_block_size,
    check_length,
    count_range,
    difference_stats,
    layout_from_candidates,
    normalise_causal,
    positions,
)


@dataclass(frozen=True)
class Full(Pattern):
    """Dense attention. Visible iff always (``causal``: j <= i)."""

    causal: bool = False

    def __post_init__(self) -> None:
        normalise_causal(self.causal, "Full")

    def __str__(self) -> str:
        return "Full(causal)" if self.causal else "Full()"

    def visible_pairs(self, length: int, num_heads: int = 1) -> int:
        return (length * (length + 1) // 2 if self.causal else length * length) * num_heads

    def mask_mod(self, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        if self.causal:
            return kv_idx <= q_idx
        return (q_idx >= 0) & (kv_idx >= 0)

    def dense_mask(self, length: int, num_heads: int = 1) -> Tensor:
        check_length(length, "Full")
        i, j = positions(length)
        if self.causal:
            return (j <= i).unsqueeze(0)  # [1, L, L]
        return torch.ones(1, length, length, dtype=torch.bool)

    def block_layout(self, length: int, block_size: int = 128, num_heads: int = 1) -> BlockLayout:
        """Every key block in every row (causal: key blocks <= the query block); K = number of blocks."""
        check_length(length, "Full")
        check_block_size(block_size, "Full")
        nq = -(-length // block_size)
        lo = 0 if self.causal else -length

        def count(a: Tensor, b: Tensor) -> Tensor:
            return count_range(a, b, lo, length)

        stats = difference_stats(count, length, block_size)
        empty = torch.zeros(1, nq, 0, dtype=torch.long)
        return layout_from_candidates(length, block_size, empty, stats, torch.ones(1, nq, dtype=torch.bool))
