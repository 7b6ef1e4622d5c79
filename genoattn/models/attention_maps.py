"""Attention weights of a trained network on one input, per layer and head (for plots; dense, so short inputs).

``attention_maps(net, input_ids)`` runs the network once and records, for every attention layer, the weights
it gave each (query, key) pair of the transformer's positions (patch tokens when the model has a patch stem).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genoattn.errors import InputError
from genoattn.models.attention import SelfAttention


def attention_layers(net: nn.Module) -> list[SelfAttention]:
    """The SelfAttention modules of ``net`` in forward order."""
    layers = [m for m in net.modules() if isinstance(m, SelfAttention)]
    if not layers:
        raise InputError(f"{type(net).__name__} has no genoattn SelfAttention layers")
    return layers


@torch.no_grad()
def attention_maps(net: nn.Module, input_ids: Tensor) -> list[Tensor]:
    """Per layer: float [B, H, N, N] weights (rows are queries and sum to 1; 0 where the pattern masks).

    input_ids: [B, L] token ids; N is the transformer's sequence length (L / patch size, plus a CLS token for
    sequence models with CLS pooling). The network runs in eval mode and is left in the mode it was in.
    """
    layers = attention_layers(net)
    maps: list[Tensor | None] = [None] * len(layers)

    def recorder(index: int):
        def hook(module: SelfAttention, args: tuple[Tensor, ...]) -> None:
            maps[index] = module.attention_weights(args[0]).float().cpu()

        return hook

    handles = [layer.register_forward_pre_hook(recorder(i)) for i, layer in enumerate(layers)]
    was_training = net.training
    try:
        net.eval()
        net(input_ids)
    finally:
        net.train(was_training)
        for handle in handles:
            handle.remove()
    return [m for m in maps if m is not None]


def mean_distance(weights: Tensor) -> Tensor:
    """Weighted mean |i - j| per query, averaged over queries: float [B, H] (tokens) from weights [B, H, N, N]."""
    n = weights.shape[-1]
    idx = torch.arange(n, device=weights.device)
    distance = (idx[:, None] - idx[None, :]).abs().to(weights.dtype)  # [N, N]
    return (weights * distance).sum(-1).mean(-1)


def offset_profile(weights: Tensor, max_offset: int) -> Tensor:
    """Mean weight a query gives the key at offset j - i, for offsets -max_offset..max_offset: float [B, H, 2m + 1]
    (averaged over the queries that have a key at that offset)."""
    n = weights.shape[-1]
    if not 0 <= max_offset < n:
        raise InputError(f"offset_profile: max_offset must be in [0, {n}) for {n} tokens, got {max_offset}")
    rows = [torch.diagonal(weights, offset=offset, dim1=-2, dim2=-1).mean(-1)  # over the N - |offset| queries
            for offset in range(-max_offset, max_offset + 1)]
    return torch.stack(rows, dim=-1)
