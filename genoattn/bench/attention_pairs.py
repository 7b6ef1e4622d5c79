"""Visible (query, key) pairs of each pattern, counted from its definition in O(L) memory.

The benchmark's useful FLOPs are 4 * head_dim * pairs (forward); at 1M tokens no L x L mask can be made, so the
pairs are counted per query row from the docs/design.md 2.3 formulas (tests check them against ``dense_mask`` sums).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _rows(length: int) -> Tensor:
    return torch.arange(length, dtype=torch.long)


def _ceil_div(a: Tensor, b: int) -> Tensor:
    return -torch.div(-a, b, rounding_mode="floor")


def _dilated_counts(length: int, window: int, dilation: int, causal: bool) -> Tensor:
    """Per row: #t with |t| <= window (causal 0 <= t <= window) and 0 <= i - t * d < L."""
    i = _rows(length)
    t_hi = torch.clamp(torch.div(i, dilation, rounding_mode="floor"), max=window)
    t_lo = torch.clamp(_ceil_div(i - length + 1, dilation), min=0 if causal else -window)
    return torch.clamp(t_hi - t_lo + 1, min=0)


def _multiples(length: int, stride: int, causal: bool) -> Tensor:
    """Per row: #t with 0 <= i - t * stride < L (causal: t >= 0)."""
    i = _rows(length)
    t_hi = torch.div(i, stride, rounding_mode="floor")
    t_lo = _ceil_div(i - length + 1, stride)
    if causal:
        t_lo = torch.clamp(t_lo, min=0)
    return t_hi - t_lo + 1


def visible_pairs(pattern: object, length: int, num_heads: int = 1) -> int:
    """Number of visible (i, j) pairs summed over ``num_heads`` heads."""
    name = type(pattern).__name__
    causal = bool(getattr(pattern, "causal", False))
    i = _rows(length)
    if name == "Full":
        per_head = length * (length + 1) // 2 if causal else length * length
        return per_head * num_heads
    if name == "SlidingWindow":
        return int(_dilated_counts(length, pattern.window, 1, causal).sum()) * num_heads
    if name == "DilatedSlidingWindow":
        return int(_dilated_counts(length, pattern.window, pattern.dilation, causal).sum()) * num_heads
    if name == "Strided":
        s = pattern.stride
        window = _dilated_counts(length, s, 1, causal)
        both = _dilated_counts(length, 1, s, causal)  # multiples of s within the window: t in {-1, 0, 1}
        return int((window + _multiples(length, s, causal) - both).sum()) * num_heads
    if name == "FixedFactorized":
        l, c = pattern.block, pattern.summary
        start = torch.div(i, l, rounding_mode="floor") * l
        end = torch.clamp(start + l, max=length)  # exclusive
        j = _rows(length)
        is_summary = (j % l >= l - c).long()
        prefix = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(is_summary, 0)])  # summaries in [0, x)
        if causal:
            own = i - start + 1
            others = prefix[start]  # summary columns before the own block
        else:
            own = end - start
            others = prefix[length] - (prefix[end] - prefix[start])
        return int((own + others).sum()) * num_heads
    if name == "Longformer":
        glob = pattern.global_positions(length)
        total = 0
        is_global = torch.zeros(length, dtype=torch.bool)
        is_global[glob] = True
        for d in pattern.dilations(num_heads):
            count = _dilated_counts(length, pattern.window, d, causal)
            for g in glob.tolist():  # global keys outside the local window (and <= i when causal)
                diff = i - g
                local = (diff.abs() <= pattern.window * d) & (diff % d == 0)
                extra = ~local & (diff >= 0) if causal else ~local
                count = count + extra.long()
            everything = i + 1 if causal else torch.full_like(i, length)
            total += int(torch.where(is_global, everything, count).sum())
        return total
    if name == "BigBird":
        b = pattern.block_size
        nb = pattern.num_blocks(length)
        rand = pattern.random_layout(length, num_heads)  # [H, nb, r]
        block_len = torch.clamp(length - torch.arange(nb) * b, max=b)  # [nb]
        qb = torch.arange(nb).view(1, nb, 1)
        fixed = torch.cat([qb - 1, qb, qb + 1, torch.zeros_like(qb), torch.full_like(qb, nb - 1)], dim=-1)
        keys = torch.cat([fixed.expand(rand.shape[0], nb, 5), rand], dim=-1)  # [H, nb, 5 + r]
        keys = torch.where((keys >= 0) & (keys < nb), keys, nb)
        keys, _ = torch.sort(keys, dim=-1)
        first = torch.ones_like(keys, dtype=torch.bool)
        first[..., 1:] = keys[..., 1:] != keys[..., :-1]
        lens = torch.cat([block_len, torch.zeros(1, dtype=torch.long)])[keys] * first  # [H, nb, 5 + r]
        per_row = lens.sum(-1)  # keys seen by each query of the block row
        per_row[:, 0] = length
        per_row[:, nb - 1] = length
        return int((per_row * block_len).sum())
    if name == "Neighborhood":
        pattern.check_length(length)
        return length * pattern.kernel_size * num_heads
    raise ValueError(f"visible_pairs: no count for {pattern}")


def performer_flops(length: int, num_heads: int, head_dim: int, num_features: int, batch: int = 1) -> int:
    """Forward FLOPs of FAVOR+ (non-causal): phi(q), phi(k) projections, phi(k)^T v, phi(q) (.) : 8 L M D per head."""
    return 8 * length * num_features * head_dim * num_heads * batch
