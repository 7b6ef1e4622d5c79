"""Attention specifications a model accepts: any mask pattern of genoattn.attention.patterns, or a
Performer / Routing configuration. All are small frozen dataclasses, so YAML can name them::

    attention:
      class_path: genoattn.attention.patterns.SlidingWindow
      init_args: {window: 128}

    attention:
      class_path: genoattn.models.PerformerSpec
      init_args: {num_features: 128}

A list with one entry per layer gives each layer its own attention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from genoattn.attention.patterns import Full
from genoattn.attention.patterns.base import Pattern
from genoattn.errors import ConfigError


@dataclass(frozen=True)
class PerformerSpec:
    """FAVOR+ linear attention (genoattn.attention.performer.Performer).

    Args:
        num_features: number of positive orthogonal random features M.
        causal: attend only to earlier positions (prefix sums).
        redraw_interval: each random projection serves this many training forward passes, then a new
            one is drawn (None: never redraw).
        ortho: orthogonal random features (else i.i.d. Gaussian rows).
        seed: makes the projections reproducible; layer i uses seed + i (None: torch's global generator).
    """

    num_features: int = 256
    causal: bool = False
    redraw_interval: int | None = None
    ortho: bool = True
    seed: int | None = None

    def layer_radius(self) -> None:
        """Unbounded: every position mixes into every other."""
        return None


@dataclass(frozen=True)
class RoutingSpec:
    """Routing Transformer attention (genoattn.attention.routing.Routing): k-means clusters of q/k.

    Args:
        num_clusters: number of centroids C per head.
        window: queries and keys taken per cluster (top-w by similarity to its centroid).
        ema_decay: EMA decay of the k-means centroid update (training mode).
        seed: makes the initial centroids reproducible; layer i uses seed + i (None: torch's global generator).
    """

    num_clusters: int = 4
    window: int = 64
    ema_decay: float = 0.999
    seed: int | None = None

    def layer_radius(self) -> None:
        """Unbounded: a cluster may hold positions anywhere in the sequence."""
        return None


AttentionSpec = Union[Pattern, PerformerSpec, RoutingSpec]  # noqa: UP007  (jsonargparse reads the Union)
FULL = Full()  # the default attention (frozen, safe to share)


def updates_state(spec: AttentionSpec) -> bool:
    """True when the attention changes its own state in training forwards (Routing's k-means centroids,
    Performer's redraws), so that recomputing it (activation checkpointing) would not reproduce it."""
    return isinstance(spec, RoutingSpec) or (isinstance(spec, PerformerSpec) and spec.redraw_interval is not None)


def layer_specs(attention: AttentionSpec | list[AttentionSpec], num_layers: int) -> list[AttentionSpec]:
    """One spec per layer: a single spec is shared; a list must have exactly ``num_layers`` entries."""
    specs = list(attention) if isinstance(attention, (list, tuple)) else [attention] * num_layers
    if len(specs) != num_layers:
        raise ConfigError(
            f"model.attention: a list needs one spec per layer ({num_layers}), got {len(specs)}"
        )
    for index, spec in enumerate(specs):
        if not isinstance(spec, (Pattern, PerformerSpec, RoutingSpec)):
            raise ConfigError(
                f"model.attention[{index}]: expected a pattern of genoattn.attention.patterns, "
                f"PerformerSpec or RoutingSpec, got {type(spec).__name__}"
            )
    return specs
