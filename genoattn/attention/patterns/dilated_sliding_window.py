"""Dilated sliding window: the sliding window over every d-th position (Longformer's dilated heads)."""

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
    count_multiples,
    difference_stats,
    floordiv,
    layout_from_candidates,
    normalise_causal,
    positions,
    range_candidates,
    residue_lengths,
    window_counts,
)
from genoattn.attention.patterns.sliding_window import SlidingWindow


@dataclass(frozen=True)
class DilatedSlidingWindow(Pattern):
    """Visible iff abs(i - j) <= window * dilation and (i - j) % dilation == 0 (``causal``: also j <= i).

    Equal to SlidingWindow(window) on each residue class x[g::dilation]; ``residue_classes`` and
    ``base.to_residue_classes`` give that view, in which no compute is wasted on the skipped positions.
    """

    window: int
    dilation: int = 1
    causal: bool = False

    def __post_init__(self) -> None:
        check_positive("window", self.window, "DilatedSlidingWindow", minimum=0)
        check_positive("dilation", self.dilation, "DilatedSlidingWindow")
        normalise_causal(self.causal, "DilatedSlidingWindow")

    def __str__(self) -> str:
        causal = ", causal" if self.causal else ""
        return f"DilatedSlidingWindow(window={self.window}, dilation={self.dilation}{causal})"

    def residue_classes(self, length: int) -> list[tuple[int, int]]:
        """(g, Lg) for each residue class g = 0..d-1: positions g, g + d, ... of which there are Lg."""
        check_length(length, "DilatedSlidingWindow")
        return list(enumerate(residue_lengths(length, self.dilation)))

    def residue_split(self) -> tuple[int, Pattern] | None:
        """SlidingWindow(window) on each residue class (None for dilation 1, which is that window already)."""
        return (self.dilation, SlidingWindow(self.window, self.causal)) if self.dilation > 1 else None

    def layer_radius(self) -> int:
        return self.window * self.dilation

    def local_bands(self, length: int) -> tuple[Band, ...]:
        return (window_band(self.window, self.dilation, self.causal),)

    def visible_pairs(self, length: int, num_heads: int = 1) -> int:
        return int(window_counts(length, self.window, self.dilation, self.causal).sum()) * num_heads

    def mask_mod(self, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        diff = q_idx - kv_idx
        visible = (diff.abs() <= self.window * self.dilation) & (diff % self.dilation == 0)
        if self.causal:
            visible = visible & (diff >= 0)
        return visible

    def dense_mask(self, length: int, num_heads: int = 1) -> Tensor:
        check_length(length, "DilatedSlidingWindow")
        i, j = positions(length)
        d = self.dilation
        visible = ((i - j).abs() <= self.window * d) & ((i - j) % d == 0)
        if self.causal:
            visible &= j <= i
        return visible.unsqueeze(0)  # [1, L, L]

    def block_layout(self, length: int, block_size: int = 128, num_heads: int = 1) -> BlockLayout:
        """Blocks of the span [qs - w*d, qe + w*d] that hold a key at a multiple of d from some query."""
        check_length(length, "DilatedSlidingWindow")
        check_block_size(block_size, "DilatedSlidingWindow")
        reach, d = self.window * self.dilation, self.dilation
        nq = -(-length // block_size)
        qs, qe = block_span(torch.arange(nq), length, block_size)
        hi_pos = qe if self.causal else qe + reach
        cand = range_candidates(floordiv(qs - reach, block_size), floordiv(hi_pos, block_size), nq)
        lo = 0 if self.causal else -reach

        def count(a: Tensor, b: Tensor) -> Tensor:
            return count_multiples(torch.clamp(a, min=lo), torch.clamp(b, max=reach), d)

        stats = difference_stats(count, length, block_size)
        return layout_from_candidates(length, block_size, cand.unsqueeze(0), stats)
