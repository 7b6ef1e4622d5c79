"""How far information travels through stacked attention layers, computed from a pattern's dense mask.

One attention layer lets query i read key j where the mask allows it; the residual stream keeps i's own input.
After n layers, position i's output can depend on position j's input iff a chain i -> k1 -> ... -> j of at most
n mask edges exists. A layer mixes all its heads, so a layer's edges are the union of its heads' masks.
Dense masks only (small L: the plots and the notebooks).
"""

from __future__ import annotations

import torch
from torch import Tensor

from genoattn.attention.patterns import Pattern
from genoattn.errors import InputError

NEVER = -1  # layers_to_reach value for a pair that no number of layers connects


def layer_mask(pattern: Pattern, length: int, num_heads: int = 1) -> Tensor:
    """bool [L, L]: keys j that one layer of ``num_heads`` heads of ``pattern`` lets query i read (union of heads)."""
    return pattern.dense_mask(length, num_heads).any(dim=0)  # [H or 1, L, L] -> [L, L]


def layers_to_reach(mask: Tensor, max_layers: int | None = None) -> Tensor:
    """int64 [L, L]: fewest layers after which output i depends on input j (0 on the diagonal; ``NEVER`` if none).

    mask: bool [L, L], True where query i sees key j in one layer. ``max_layers`` stops the search early (pairs
    not reached by then are ``NEVER``); by default it runs until nothing new is reached (at most L - 1 layers).
    """
    if mask.dim() != 2 or mask.shape[0] != mask.shape[1] or mask.dtype != torch.bool:
        raise InputError(f"layers_to_reach expects a bool [L, L] mask, got {mask.dtype} {tuple(mask.shape)}")
    length = mask.shape[0]
    limit = length - 1 if max_layers is None else max_layers
    edges = mask.float()
    reached = torch.eye(length, dtype=torch.bool)  # [L, L]: after 0 layers each position holds only itself
    layers = torch.full((length, length), NEVER, dtype=torch.long)
    layers[reached] = 0
    for n in range(1, limit + 1):
        grown = reached | ((edges @ reached.float()) > 0)  # one more layer: i reads k, k already holds j
        new = grown & ~reached
        if not bool(new.any()):
            break
        layers[new] = n
        reached = grown
    return layers


def receptive_field_sizes(mask: Tensor, num_layers: int) -> Tensor:
    """int64 [num_layers + 1, L]: how many input positions each output i depends on after 0..num_layers layers."""
    layers = layers_to_reach(mask, max_layers=num_layers)  # [L, L]
    counts = [((layers >= 0) & (layers <= n)).sum(dim=1) for n in range(num_layers + 1)]
    return torch.stack(counts)


def layers_to_full_view(mask: Tensor) -> int | None:
    """Layers after which every output depends on every input (None: never, e.g. a disconnected pattern)."""
    layers = layers_to_reach(mask)
    return None if bool((layers == NEVER).any()) else int(layers.max())
