"""Position information for attention: rotary embeddings (RoPE) on q, k, and ALiBi slopes.

Both are relative and extrapolate to lengths longer than those seen in training.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from genoattn.errors import ConfigError

PositionKind = Literal["rotary", "alibi", "none"]
POSITION_KINDS: tuple[str, ...] = ("rotary", "alibi", "none")


def alibi_slopes(num_heads: int) -> Tensor:
    """ALiBi slopes per head (Press et al. 2022), float32 [H].

    For H a power of two the slopes are the geometric sequence 2^(-8/H), 2^(-16/H), ..., 2^(-8).
    Otherwise the slopes of the closest smaller power of two n come first, followed by every other slope
    of 2n, as in the paper's reference code.
    """
    if num_heads < 1:
        raise ConfigError(f"alibi: num_heads must be >= 1, got {num_heads}")

    def geometric(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    closest = 2 ** int(math.floor(math.log2(num_heads)))
    slopes = geometric(closest)
    if closest < num_heads:
        slopes += geometric(2 * closest)[0::2][: num_heads - closest]
    return torch.tensor(slopes, dtype=torch.float32)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (Su et al. 2021) applied to q and k shaped [B, H, L, D].

    Channel pairs (c, c + D/2) are rotated by angle ``pos * base^(-2c/D)``. The angles are computed in
    float32 for any length (so longer inputs than in training just work) and cast to the input dtype.
    """

    inv_freq: Tensor  # buffer [D/2]

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ConfigError(f"rotary positions need an even head_dim, got {head_dim}")
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # [D/2]
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self._cache: tuple[int, torch.device, Tensor, Tensor] | None = None

    def cos_sin(self, length: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """float32 cos and sin tables [L, D] (cached for the last length and device)."""
        if self._cache is not None and self._cache[0] == length and self._cache[1] == device:
            return self._cache[2], self._cache[3]
        pos = torch.arange(length, device=device, dtype=torch.float32)
        angles = torch.outer(pos, self.inv_freq.to(device))  # [L, D/2]
        angles = torch.cat([angles, angles], dim=-1)  # [L, D]
        cos, sin = angles.cos(), angles.sin()
        self._cache = (length, device, cos, sin)
        return cos, sin

    def forward(self, q: Tensor, k: Tensor, offset: int = 0) -> tuple[Tensor, Tensor]:
        """q, k [B, H, L, D] rotated as positions offset .. offset + L - 1 (a shard of a longer sequence)."""
        cos, sin = self.cos_sin(offset + q.shape[-2], q.device)
        cos, sin = cos[offset:].to(q.dtype), sin[offset:].to(q.dtype)
        return _rotate(q, cos, sin), _rotate(k, cos, sin)


def _rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    rotated = torch.cat([-x2, x1], dim=-1)  # [B, H, L, D]
    return x * cos + rotated * sin
