"""Strided attention (Sparse Transformer, Child et al. 2019): a local window plus every stride-th key."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from genoattn.attention.patterns.band import Band
from genoattn.attention.patterns.base import (
    BlockLayout,
    Pattern,
    check_block_size,
    check_length,
    check_positive,
    count_multiples,
    count_range,
    difference_stats,
    layout_from_candidates,
    normalise_causal,
    positions,
    window_counts,
)


@dataclass(frozen=True)
class Strided(Pattern):
    """Visible iff abs(i - j) <= stride or (i - j) % stride == 0 (``causal``: also j <= i).

    Each query sees about L / stride strided keys, so with blocks wider than the stride every key block is
    touched: the layout has one column per key block (O(NQ * NB) memory).
    """

    stride: int
    causal: bool = False

    def __post_init__(self) -> None:
        check_positive("stride", self.stride, "Strided")
        normalise_causal(self.causal, "Strided")

    def __str__(self) -> str:
        return f"Strided(stride={self.stride}{', causal' if self.causal else ''})"

    def local_bands(self, length: int) -> tuple[Band, ...]:
        """The window |i - j| <= stride, plus its residue class mod the stride (dilation = stride, every class
        index) with a hole of 1 (c' = c, c +- 1 are positions i, i +- stride, which the window holds)."""
        s, right = self.stride, 0 if self.causal else 1
        return Band(1, s, s * right), Band(s, length, length * right, hole=1)

    def visible_pairs(self, length: int, num_heads: int = 1) -> int:
        """Window keys + multiples of the stride - the multiples inside the window (t in {-1, 0, 1})."""
        s, causal = self.stride, self.causal
        i = torch.arange(length, dtype=torch.long)
        t_lo = -torch.div(length - 1 - i, s, rounding_mode="floor")
        multiples = torch.div(i, s, rounding_mode="floor") - (torch.clamp(t_lo, min=0) if causal else t_lo) + 1
        window, both = window_counts(length, s, 1, causal), window_counts(length, 1, s, causal)
        return int((window + multiples - both).sum()) * num_heads

    def mask_mod(self, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        diff = q_idx - kv_idx
        visible = (diff.abs() <= self.stride) | (diff % self.stride == 0)
        if self.causal:
            visible = visible & (diff >= 0)
        return visible

    def dense_mask(self, length: int, num_heads: int = 1) -> Tensor:
        check_length(length, "Strided")
        i, j = positions(length)
        visible = ((i - j).abs() <= self.stride) | ((i - j) % self.stride == 0)
        if self.causal:
            visible &= j <= i
        return visible.unsqueeze(0)  # [1, L, L]

    def block_layout(self, length: int, block_size: int = 128, num_heads: int = 1) -> BlockLayout:
        """Key blocks whose differences i - j meet the window or a multiple of the stride."""
        check_length(length, "Strided")
        check_block_size(block_size, "Strided")
        s = self.stride
        nq = -(-length // block_size)
        lo_window = 0 if self.causal else -s
        lo = 0 if self.causal else -length

        def count(a: Tensor, b: Tensor) -> Tensor:
            in_window = count_range(a, b, lo_window, s)
            strided = count_multiples(torch.clamp(a, min=lo), b, s)
            both = count_multiples(torch.clamp(a, min=lo_window), torch.clamp(b, max=s), s)
            return in_window + strided - both

        stats = difference_stats(count, length, block_size)
        empty = torch.zeros(1, nq, 0, dtype=torch.long)
        return layout_from_candidates(length, block_size, empty, stats, torch.ones(1, nq, dtype=torch.bool))
