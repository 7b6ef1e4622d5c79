"""Multi-head self-attention whose attention pattern is a spec (mask pattern, Performer or Routing)."""

from __future__ import annotations

import importlib

from torch import Tensor, nn

from genoattn.attention.context_parallel import Shards, attend_sharded
from genoattn.attention.dispatch import BACKEND_ORDER, attend
from genoattn.attention.patterns.base import Pattern
from genoattn.errors import ConfigError, InputError
from genoattn.models.positions import POSITION_KINDS, RotaryEmbedding, alibi_slopes
from genoattn.models.specs import AttentionSpec, PerformerSpec, RoutingSpec


def check_backend(backend: str) -> None:
    """Raise ConfigError unless ``backend`` is 'auto' or a known backend name."""
    if backend != "auto" and backend not in BACKEND_ORDER:
        raise ConfigError(f"model.backend: expected 'auto' or one of {BACKEND_ORDER}, got {backend!r}")


def _import_module_class(module: str, name: str) -> type:
    try:
        return getattr(importlib.import_module(module), name)
    except (ModuleNotFoundError, AttributeError) as exc:
        raise ConfigError(f"model.attention: {module}.{name} is not available: {exc}") from exc


def upgrade_state_names(state_dict: dict, prefix: str) -> dict:
    """Rename, in place, the keys of the layer at ``prefix`` saved while its Performer/Routing module was called
    ``kernel`` (``{prefix}kernel.*`` -> ``{prefix}attention_module.*``), so that older checkpoints still load."""
    old = f"{prefix}kernel."
    for key in [k for k in state_dict if k.startswith(old)]:
        state_dict[f"{prefix}attention_module.{key[len(old):]}"] = state_dict.pop(key)
    return state_dict


def _upgrade_before_load(module: nn.Module, state_dict: dict, prefix: str, *rest: object) -> None:
    upgrade_state_names(state_dict, prefix)


def build_attention_module(spec: AttentionSpec, head_dim: int, num_heads: int, layer: int = 0) -> nn.Module | None:
    """The module that computes a Performer/Routing spec's attention itself; None for mask patterns (they go
    through attend).

    ``layer`` offsets the spec's seed so that layers draw different projections / centroids.
    """
    if isinstance(spec, PerformerSpec):
        performer = _import_module_class("genoattn.attention.performer", "Performer")
        return performer(
            head_dim,
            num_features=spec.num_features,
            causal=spec.causal,
            redraw_interval=spec.redraw_interval,
            ortho=spec.ortho,
            seed=None if spec.seed is None else spec.seed + layer,
        )
    if isinstance(spec, RoutingSpec):
        routing = _import_module_class("genoattn.attention.routing", "Routing")
        return routing(
            head_dim,
            num_clusters=spec.num_clusters,
            window=spec.window,
            num_heads=num_heads,
            ema_decay=spec.ema_decay,
            seed=None if spec.seed is None else spec.seed + layer,
        )
    return None


class SelfAttention(nn.Module):
    """q/k/v projections, positions (rotary on q, k or ALiBi bias), attention by ``spec``, output projection.

    Args:
        d_model: model width; split into ``num_heads`` heads of d_model // num_heads channels.
        num_heads: number of attention heads.
        spec: mask pattern, PerformerSpec or RoutingSpec.
        backend: attention backend for mask patterns ('auto' or a name in BACKEND_ORDER).
        positions: 'rotary', 'alibi' or 'none'.
        rotary_base: RoPE frequency base.
        layer: index of the layer (seeds per-layer random projections).
    """

    alibi_slopes: Tensor | None  # buffer [H] with positions 'alibi', else None

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        spec: AttentionSpec,
        backend: str = "auto",
        positions: str = "rotary",
        rotary_base: float = 10000.0,
        layer: int = 0,
    ) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ConfigError(f"model.d_model ({d_model}) must be divisible by model.num_heads ({num_heads})")
        if positions not in POSITION_KINDS:
            raise ConfigError(f"model.positions: expected one of {POSITION_KINDS}, got {positions!r}")
        check_backend(backend)
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.spec = spec
        self.backend = backend
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.rotary = RotaryEmbedding(self.head_dim, rotary_base) if positions == "rotary" else None
        self.attention_module = build_attention_module(spec, self.head_dim, num_heads, layer)
        self.register_load_state_dict_pre_hook(_upgrade_before_load)
        if positions == "alibi" and self.attention_module is not None:
            raise ConfigError(
                f"model.positions: alibi is a score bias, which {type(spec).__name__} has no scores for; "
                "use 'rotary' or 'none'"
            )
        self.register_buffer(
            "alibi_slopes", alibi_slopes(num_heads) if positions == "alibi" else None, persistent=False
        )

    def _heads(self, x: Tensor, offset: int = 0) -> tuple[Tensor, Tensor, Tensor]:
        """q, k, v [B, H, L, D] of x [B, L, d], positions (offset .. offset + L - 1) applied to q and k."""
        batch, length, _ = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.num_heads, self.head_dim)  # [B, L, 3, H, D]
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, H, L, D]
        if self.rotary is not None:
            q, k = self.rotary(q, k, offset)
        return q, k, v

    def attention_weights(self, x: Tensor) -> Tensor:
        """Attention weights [B, H, L, L] this layer gives x [B, L, d] (mask patterns only; dense, so small L)."""
        if self.attention_module is not None:
            raise InputError(f"{type(self.spec).__name__} has no attention weights to show (it never forms them)")
        from genoattn.attention.backends.reference import attention_probs

        assert isinstance(self.spec, Pattern)  # no attention module: a mask pattern
        q, k, _ = self._heads(x)
        return attention_probs(q, k, self.spec, self.alibi_slopes)

    def forward(self, x: Tensor, shards: Shards | None = None) -> Tensor:
        """x [B, L, d] -> [B, L, d]; with ``shards`` x holds tokens shards.start .. shards.end - 1 of a sequence
        sharded over a process group (context parallelism), and attention sees the whole sequence."""
        batch, length, width = x.shape
        q, k, v = self._heads(x, shards.start if shards is not None else 0)
        if shards is not None:
            out = attend_sharded(q, k, v, self.spec, shards, backend=self.backend, alibi_slopes=self.alibi_slopes)
        elif self.attention_module is not None:
            out = self.attention_module(q, k, v)  # [B, H, L, D]
        else:
            assert isinstance(self.spec, Pattern)  # no attention module: a mask pattern
            out = attend(q, k, v, self.spec, backend=self.backend, alibi_slopes=self.alibi_slopes)
        out = out.transpose(1, 2).reshape(batch, length, width)  # [B, L, H * D]
        return self.proj(out)

    def extra_repr(self) -> str:
        return f"heads={self.num_heads}, spec={self.spec!r}, backend={self.backend!r}"
