"""Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

from __future__ import annotations

from torch import Tensor, nn

from genoattn.attention.context_parallel import Shards
from genoattn.errors import ConfigError

NORM_KINDS: tuple[str, ...] = ("layernorm", "rmsnorm")


def make_norm(kind: str, width: int) -> nn.Module:
    """LayerNorm or RMSNorm over the last dimension."""
    if kind == "layernorm":
        return nn.LayerNorm(width)
    if kind == "rmsnorm":
        return nn.RMSNorm(width)
    raise ConfigError(f"model.norm: expected one of {NORM_KINDS}, got {kind!r}")


class MLP(nn.Module):
    """Linear -> GELU -> Linear with dropout on the output."""

    def __init__(self, d_model: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc = nn.Linear(d_model, hidden)
        self.act = nn.GELU()
        self.proj = nn.Linear(hidden, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.proj(self.act(self.fc(x))))


class Block(nn.Module):
    """One pre-norm transformer layer around a given attention module; [B, L, d] -> [B, L, d]."""

    def __init__(
        self, d_model: int, attention: nn.Module, mlp_ratio: float = 4.0, dropout: float = 0.0, norm: str = "layernorm"
    ) -> None:
        super().__init__()
        self.norm1 = make_norm(norm, d_model)
        self.attn = attention
        self.drop = nn.Dropout(dropout)
        self.norm2 = make_norm(norm, d_model)
        self.mlp = MLP(d_model, max(1, round(mlp_ratio * d_model)), dropout)

    def forward(self, x: Tensor, shards: Shards | None = None) -> Tensor:
        """``shards`` (context parallelism): which tokens of the whole sequence x holds; attention-only."""
        x = x + self.drop(self.attn(self.norm1(x), shards))
        return x + self.mlp(self.norm2(x))
