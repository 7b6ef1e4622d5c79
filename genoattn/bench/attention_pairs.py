"""Work counts for the benchmarks: visible (query, key) pairs of a mask pattern, FLOPs of the Performer.

The benchmark's useful FLOPs are 4 * head_dim * pairs (forward); each pattern counts its pairs from its own
definition in O(L) memory (``Pattern.visible_pairs``; tests check them against ``dense_mask`` sums).
"""

from __future__ import annotations

from genoattn.attention.patterns import Pattern


def visible_pairs(pattern: Pattern, length: int, num_heads: int = 1) -> int:
    """Number of visible (i, j) pairs summed over ``num_heads`` heads."""
    return pattern.visible_pairs(length, num_heads)


def performer_flops(length: int, num_heads: int, head_dim: int, num_features: int, batch: int = 1) -> int:
    """Forward FLOPs of FAVOR+ (non-causal): phi(q), phi(k) projections, phi(k)^T v, phi(q) (.) : 8 L M D per head."""
    return 8 * length * num_features * head_dim * num_heads * batch
