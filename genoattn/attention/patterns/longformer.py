"""Longformer attention (Beltagy et al. 2020): a (dilated) sliding window plus global tokens."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from genoattn.attention.patterns.band import Band, window_band
from genoattn.attention.patterns.base import (
    BlockLayout,
    MaskMod,
    Pattern,
    block_span,
    check_block_size,
    check_length,
    check_positive,
    count_multiples,
    count_sorted,
    difference_span,
    floordiv,
    layout_from_candidates,
    normalise_causal,
    positions,
    range_candidates,
    window_counts,
)
from genoattn.errors import InputError


@dataclass(frozen=True)
class Longformer(Pattern):
    """Visible iff local(i, j) or i is global or j is global (``causal``: also j <= i).

    local(i, j): abs(i - j) <= window * d and (i - j) % d == 0 with d the head's dilation (``dilation`` is one
    int for every head or a tuple with one entry per head). ``global_tokens`` are positions; negative ones
    count from the end (-1 is the last token). Global tokens are meant to be few (CLS-like): a query block
    holding one touches every key block.
    """

    window: int
    global_tokens: tuple[int, ...] = (0,)
    dilation: int | tuple[int, ...] = 1
    causal: bool = False

    def __post_init__(self) -> None:
        check_positive("window", self.window, "Longformer", minimum=0)
        tokens = self.global_tokens
        if isinstance(tokens, int) or not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
            raise InputError(f"Longformer: global_tokens must be a tuple of ints, got {tokens!r}")
        object.__setattr__(self, "global_tokens", tuple(tokens))
        if isinstance(self.dilation, int):
            check_positive("dilation", self.dilation, "Longformer")
        else:
            dilations = tuple(self.dilation)
            if not dilations:
                raise InputError("Longformer: dilation must be an int or a non-empty tuple (one per head), got ()")
            for d in dilations:
                check_positive("dilation", d, "Longformer")
            object.__setattr__(self, "dilation", dilations)
        normalise_causal(self.causal, "Longformer")

    def __str__(self) -> str:
        dilation = "" if self.dilation == 1 else f", dilation={self.dilation}"
        causal = ", causal" if self.causal else ""
        return f"Longformer(window={self.window}, global_tokens={self.global_tokens}{dilation}{causal})"

    def dilations(self, num_heads: int) -> tuple[int, ...]:
        """Dilation of each head."""
        check_positive("num_heads", num_heads, "Longformer")
        if isinstance(self.dilation, int):
            return (self.dilation,) * num_heads
        if len(self.dilation) != num_heads:
            raise InputError(
                f"Longformer: dilation has {len(self.dilation)} entries (one per head) but num_heads={num_heads}"
            )
        return self.dilation

    def global_positions(self, length: int) -> Tensor:
        """int64 [G]: the global tokens as sorted, distinct positions in [0, length)."""
        check_length(length, "Longformer")
        out = []
        for t in self.global_tokens:
            pos = t + length if t < 0 else t
            if not 0 <= pos < length:
                raise InputError(f"Longformer: global token {t} is outside a sequence of length {length}")
            out.append(pos)
        return torch.tensor(sorted(set(out)), dtype=torch.long)

    def layer_radius(self) -> int | None:
        """The widest head's window; None with global tokens (they mix every position)."""
        if self.global_tokens:
            return None
        return self.window * (self.dilation if isinstance(self.dilation, int) else max(self.dilation))

    def local_bands(self, length: int) -> tuple[Band, ...] | None:
        """The window's band when every head has the same dilation (a band has one), else None."""
        dilations = {self.dilation} if isinstance(self.dilation, int) else set(self.dilation)
        if len(dilations) != 1:
            return None
        return (window_band(self.window, dilations.pop(), self.causal),)

    def visible_pairs(self, length: int, num_heads: int = 1) -> int:
        """Per head: window keys plus the global keys outside the window; global rows see every key."""
        glob = self.global_positions(length)
        i = torch.arange(length, dtype=torch.long)
        is_global = torch.zeros(length, dtype=torch.bool)
        is_global[glob] = True
        everything = i + 1 if self.causal else torch.full_like(i, length)
        total = 0
        for d in self.dilations(num_heads):
            count = window_counts(length, self.window, d, self.causal)
            for g in glob.tolist():  # global keys outside the local window (and <= i when causal)
                diff = i - g
                local = (diff.abs() <= self.window * d) & (diff % d == 0)
                count = count + (~local & (diff >= 0) if self.causal else ~local).long()
            total += int(torch.where(is_global, everything, count).sum())
        return total

    def _head_dilations(self, num_heads: int) -> Tensor:
        """int64 [H'] (H' = 1 when every head has the same dilation)."""
        dilations = self.dilations(num_heads)
        if len(set(dilations)) == 1:
            dilations = dilations[:1]
        return torch.tensor(dilations, dtype=torch.long)

    def mask_mod_for(self, length: int, num_heads: int = 1) -> MaskMod:
        dil = self._head_dilations(num_heads)
        is_global = torch.zeros(length, dtype=torch.bool)
        is_global[self.global_positions(length)] = True
        w, causal, per_head = self.window, self.causal, len(dil) > 1
        single = int(dil[0])

        def mask_mod(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            d = dil[h] if per_head else single
            diff = q_idx - kv_idx
            visible = (diff.abs() <= w * d) & (diff % d == 0) | is_global[q_idx] | is_global[kv_idx]
            if causal:
                visible = visible & (diff >= 0)
            return visible

        return mask_mod

    def dense_mask(self, length: int, num_heads: int = 1) -> Tensor:
        """bool [H', L, L]; H' = 1 unless the heads have different dilations."""
        d = self._head_dilations(num_heads).view(-1, 1, 1)  # [H', 1, 1]
        i, j = positions(length)
        is_global = torch.zeros(length, dtype=torch.bool)
        is_global[self.global_positions(length)] = True
        local = ((i - j).abs() <= self.window * d) & ((i - j) % d == 0)  # [H', L, L]
        visible = local | is_global[:, None] | is_global[None, :]
        if self.causal:
            visible &= j <= i
        return visible

    def block_layout(self, length: int, block_size: int = 128, num_heads: int = 1) -> BlockLayout:
        """Local window blocks + blocks holding a global key; query blocks holding a global see all blocks.

        H' = num_heads when the heads have different dilations, else 1.
        """
        check_block_size(block_size, "Longformer")
        dil = self._head_dilations(num_heads)  # [H']
        glob = self.global_positions(length)  # [G]
        bs, causal = block_size, self.causal
        nq = -(-length // bs)
        heads = len(dil)

        def stats(h: Tensor, q_block: Tensor, k_block: Tensor) -> tuple[Tensor, Tensor]:
            d = dil[h]
            reach = self.window * d
            qs, qe = block_span(q_block, length, bs)
            ks, ke = block_span(k_block, length, bs)
            a, b = difference_span(q_block, k_block, length, bs)
            lo = 0 if causal else -reach
            local = count_multiples(torch.clamp(a, min=lo), torch.minimum(b, reach), d) > 0
            last_key = torch.minimum(ke, qe) if causal else ke
            first_query = torch.maximum(qs, ks) if causal else qs
            touched = local | (count_sorted(glob, ks, last_key) > 0) | (count_sorted(glob, first_query, qe) > 0)
            return touched, self._full(glob, d, qs, qe, ks, ke)

        reach_max = self.window * dil.view(-1, 1)  # [H', 1]
        qs, qe = block_span(torch.arange(nq).view(1, nq), length, bs)
        hi_pos = qe if causal else qe + reach_max
        local = range_candidates(floordiv(qs - reach_max, bs), floordiv(hi_pos, bs).expand(heads, nq), nq)
        global_blocks = torch.unique(glob // bs).view(1, 1, -1).expand(heads, nq, -1)
        cand = torch.cat([local, global_blocks], dim=-1)  # [H', NQ, C]
        dense_rows = torch.zeros(1, nq, dtype=torch.bool)
        dense_rows[0, glob // bs] = True
        return layout_from_candidates(length, bs, cand, stats, dense_rows)

    def _full(self, glob: Tensor, d: Tensor, qs: Tensor, qe: Tensor, ks: Tensor, ke: Tensor) -> Tensor:
        """Block pairs where every (i, j) is visible: all pairs of non-global i', j' local (or none exist)."""
        q_min, q_max = _non_global_extremes(glob, qs, qe)
        k_min, k_max = _non_global_extremes(glob, ks, ke)
        no_q = q_min > q_max
        no_k = k_min > k_max
        in_window = torch.maximum(q_max - k_min, k_max - q_min) <= self.window * d
        residue = q_min % d
        same_class = (
            (residue == k_min % d) & _all_in_class(glob, qs, qe, residue, d) & _all_in_class(glob, ks, ke, residue, d)
        )
        full = no_q | no_k | (in_window & same_class)
        if self.causal:
            full = full & (ke <= qs)
        return full


def _non_global_extremes(glob: Tensor, start: Tensor, end: Tensor) -> tuple[Tensor, Tensor]:
    """Smallest and largest non-global position in [start, end] (min > max when every one is global)."""
    low, high = start, end
    for g in glob.tolist():  # ascending: stepping over one global may land on the next
        low = low + (low == g).long()
    for g in reversed(glob.tolist()):
        high = high - (high == g).long()
    return low, high


def _all_in_class(glob: Tensor, start: Tensor, end: Tensor, residue: Tensor, d: Tensor) -> Tensor:
    """True where every non-global position in [start, end] is congruent to ``residue`` mod d."""
    non_global = (end - start + 1) - count_sorted(glob, start, end)
    in_class = count_multiples(start - residue, end - residue, d)
    for g in glob.tolist():
        in_class = in_class - ((start <= g) & (g <= end) & (g % d == residue)).long()
    return in_class == non_global


__all__ = ["Longformer"]
