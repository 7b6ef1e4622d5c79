"""Fixed factorized attention (Sparse Transformer "fixed", Child et al. 2019)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from genoattn.attention.patterns.base import (
    BlockLayout,
    Pattern,
    block_span,
    check_block_size,
    check_length,
    check_positive,
    count_range,
    layout_from_candidates,
    normalise_causal,
    positions,
)
from genoattn.errors import InputError


@dataclass(frozen=True)
class FixedFactorized(Pattern):
    """Visible iff i // block == j // block or j % block >= block - summary (``causal``: also j <= i).

    The last ``summary`` positions of every block are summary keys that every query sees; since they are
    spread over the whole sequence the layout has one column per key block (O(NQ * NB) memory).
    """

    block: int
    summary: int = 1
    causal: bool = False

    def __post_init__(self) -> None:
        check_positive("block", self.block, "FixedFactorized")
        check_positive("summary", self.summary, "FixedFactorized", minimum=0)
        if self.summary > self.block:
            raise InputError(f"FixedFactorized: summary must be <= block={self.block}, got {self.summary}")
        normalise_causal(self.causal, "FixedFactorized")

    def __str__(self) -> str:
        causal = ", causal" if self.causal else ""
        return f"FixedFactorized(block={self.block}, summary={self.summary}{causal})"

    def mask_mod(self, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        l, c = self.block, self.summary
        visible = (q_idx // l == kv_idx // l) | (kv_idx % l >= l - c)
        if self.causal:
            visible = visible & (kv_idx <= q_idx)
        return visible

    def dense_mask(self, length: int, num_heads: int = 1) -> Tensor:
        check_length(length, "FixedFactorized")
        i, j = positions(length)
        l, c = self.block, self.summary
        visible = (i // l == j // l) | (j % l >= l - c)
        if self.causal:
            visible &= j <= i
        return visible.unsqueeze(0)  # [1, L, L]

    def visible_pairs(self, length: int, num_heads: int = 1) -> int:
        """Per row: its own block's keys (causal: up to the row) + the summary keys outside that block."""
        l, c = self.block, self.summary
        i = torch.arange(length, dtype=torch.long)
        start = torch.div(i, l, rounding_mode="floor") * l
        end = torch.clamp(start + l, max=length)  # exclusive
        is_summary = (i % l >= l - c).long()  # of key j = i
        prefix = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(is_summary, 0)])  # summaries in [0, x)
        if self.causal:
            own, others = i - start + 1, prefix[start]  # summary columns before the own block
        else:
            own, others = end - start, prefix[length] - (prefix[end] - prefix[start])
        return int((own + others).sum()) * num_heads

    def _summaries(self, u: Tensor, v: Tensor) -> Tensor:
        """Number of summary positions in [u, v] (0 when empty)."""
        l, c = self.block, self.summary

        def upto(x: Tensor) -> Tensor:  # summary positions in [0, x]
            n = x + 1
            return (n // l) * c + torch.clamp(n % l - (l - c), min=0)

        return torch.clamp(upto(v) - upto(u - 1), min=0)

    def block_layout(self, length: int, block_size: int = 128, num_heads: int = 1) -> BlockLayout:
        """Key blocks sharing a pattern block with the query block, or holding a (causally visible) summary."""
        check_length(length, "FixedFactorized")
        check_block_size(block_size, "FixedFactorized")
        l = self.block
        nq = -(-length // block_size)

        def stats(h: Tensor, q_block: Tensor, k_block: Tensor) -> tuple[Tensor, Tensor]:
            qs, qe = block_span(q_block, length, block_size)
            ks, ke = block_span(k_block, length, block_size)
            own_start = (qs // l) * l  # first position of the query block's first pattern block
            own_end = qe if self.causal else (qe // l) * l + l - 1
            last_key = torch.minimum(ke, qe) if self.causal else ke
            touched = (count_range(ks, ke, own_start, own_end) > 0) | (self._summaries(ks, last_key) > 0)
            # keys every query of the block sees: summaries, plus the shared pattern block if there is one
            single = (qs // l) == (qe // l)
            own = count_range(ks, ke, own_start, own_start + l - 1)
            own_non_summary = own - self._summaries(torch.maximum(ks, own_start), torch.minimum(ke, own_start + l - 1))
            seen_by_all = self._summaries(ks, ke) + torch.where(single, own_non_summary, 0)
            full = seen_by_all == ke - ks + 1
            if self.causal:
                full = full & (ke <= qs)
            return touched, full

        empty = torch.zeros(1, nq, 0, dtype=torch.long)
        return layout_from_candidates(length, block_size, empty, stats, torch.ones(1, nq, dtype=torch.bool))
