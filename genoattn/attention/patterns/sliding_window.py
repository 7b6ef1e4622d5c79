"""Sliding window (local) attention: each query sees the keys within ``window`` positions."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from genoattn.attention.patterns.band import Band, window_band
from genoattn.attention.patterns.base import (
    BlockLayout,
    Pattern,
    block_span,
    check_block_size,
    check_length,
    check_positive,
    count_range,
    difference_stats,
    floordiv,
    layout_from_candidates,
    normalise_causal,
    positions,
    range_candidates,
    window_counts,
)


@dataclass(frozen=True)
class SlidingWindow(Pattern):
    """Visible iff abs(i - j) <= window: 2 * window + 1 keys (Longformer's attention_window = 2 * window).

    ``causal=True`` adds j <= i (window + 1 keys). Positions are tokens: in a GenomeTransformer with patch_size p,
    ``window`` tokens span window * p nucleotides (the data's ``window`` counts nucleotides).
    """

    window: int
    causal: bool = False

    def __post_init__(self) -> None:
        check_positive("window", self.window, "SlidingWindow", minimum=0)
        normalise_causal(self.causal, "SlidingWindow")

    def __str__(self) -> str:
        return f"SlidingWindow(window={self.window}{', causal' if self.causal else ''})"

    def layer_radius(self) -> int:
        return self.window

    def local_bands(self, length: int) -> tuple[Band, ...]:
        return (window_band(self.window, 1, self.causal),)

    def visible_pairs(self, length: int, num_heads: int = 1) -> int:
        return int(window_counts(length, self.window, 1, self.causal).sum()) * num_heads

    def mask_mod(self, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        diff = q_idx - kv_idx
        visible = diff.abs() <= self.window
        if self.causal:
            visible = visible & (diff >= 0)
        return visible

    def dense_mask(self, length: int, num_heads: int = 1) -> Tensor:
        check_length(length, "SlidingWindow")
        i, j = positions(length)
        visible = (i - j).abs() <= self.window
        if self.causal:
            visible &= j <= i
        return visible.unsqueeze(0)  # [1, L, L]

    def block_layout(self, length: int, block_size: int = 128, num_heads: int = 1) -> BlockLayout:
        """Key blocks (qs - w) // bs .. (qe + w) // bs of each query block [qs, qe] (causal: up to qe // bs)."""
        check_length(length, "SlidingWindow")
        check_block_size(block_size, "SlidingWindow")
        w = self.window
        nq = -(-length // block_size)
        qs, qe = block_span(torch.arange(nq), length, block_size)
        hi_pos = qe if self.causal else qe + w
        cand = range_candidates(floordiv(qs - w, block_size), floordiv(hi_pos, block_size), nq)  # [NQ, K]
        lo = 0 if self.causal else -w

        def count(a: Tensor, b: Tensor) -> Tensor:
            return count_range(a, b, lo, w)

        stats = difference_stats(count, length, block_size)
        return layout_from_candidates(length, block_size, cand.unsqueeze(0), stats)
