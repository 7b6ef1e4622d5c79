"""Reference backend: dense boolean mask + softmax. The oracle; any device, any float dtype (float64 too)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genoattn.attention.patterns import Pattern

# Above this many query-key pairs per head the dense mask is unreasonable (2**28 pairs = 256 MiB of bool).
MAX_DENSE_PAIRS = 2**28


class ReferenceBackend:
    name = "reference"

    def can_run(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None
    ) -> str | None:
        if not hasattr(pattern, "dense_mask"):
            return f"{type(pattern).__name__} has no dense_mask"
        length = q.shape[-2]
        if length * length > MAX_DENSE_PAIRS:
            return f"L={length} needs an L x L mask ({length * length:,} pairs > {MAX_DENSE_PAIRS:,})"
        return None

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None
    ) -> Tensor:
        return attention_probs(q, k, pattern, alibi_slopes) @ v  # [B, H, L, D]


def attention_probs(q: Tensor, k: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None) -> Tensor:
    """Attention weights [B, H, L, L] of q, k [B, H, L, D] under ``pattern`` (0 where masked; rows sum to 1)."""
    num_heads, length = q.shape[1], q.shape[2]
    mask = pattern.dense_mask(length, num_heads).to(q.device)  # [H or 1, L, L]
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])  # [B, H, L, L]
    if alibi_slopes is not None:
        idx = torch.arange(length, device=q.device)
        distance = (idx[:, None] - idx[None, :]).abs().to(scores.dtype)  # [L, L]
        scores = scores - alibi_slopes.to(scores.dtype).view(-1, 1, 1) * distance  # [B, H, L, L]
    scores = scores.masked_fill(~mask, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    # A query with no visible key would give NaN; no pattern of docs/design.md 2.3 has one, but stay finite.
    return torch.nan_to_num(probs, nan=0.0)


backend = ReferenceBackend()
