"""Context-parallel BigBird: every rank gathers all keys and values, then runs its own block rows.

BigBird's random key blocks may be anywhere in the sequence, so each rank gathers the whole K/V (``gather_range``
over [0, L): (world - 1) / world of the sequence's K/V arrives on every rank, O(L x (D + Dv)) memory per rank, and
the backward sends the same amount back). The compute stays sharded: each rank runs only the block rows that
overlap its tokens, a row against its key blocks from ``BigBird.row_key_blocks`` (the global rows 0 and nb - 1
against every block), as one masked softmax per row group.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from genoattn.attention.context_parallel.collectives import gather_range
from genoattn.attention.context_parallel.shards import Shards
from genoattn.attention.patterns import BigBird


def attend_bigbird(q: Tensor, k: Tensor, v: Tensor, pattern: BigBird, shards: Shards,
                   alibi_slopes: Tensor | None = None) -> Tensor:
    """This rank's queries q [B, H, n, D] over every key; k, v [B, H, n, .] hold its own keys."""
    length, b, heads = shards.length, pattern.block_size, q.shape[1]
    s, e = shards.start, shards.end
    nb = pattern.num_blocks(length)
    kv = gather_range(torch.cat([k, v], dim=-1), shards, ((0, length),) * shards.world)  # [B, H, L, D + Dv]
    first, last = s // b, (e - 1) // b + 1  # block rows overlapping [s, e)
    q_blocks = F.pad(q, (0, 0, s - first * b, last * b - e))  # [B, H, (last - first) * b, D]
    q_blocks = q_blocks.unflatten(-2, (last - first, b))  # [B, H, m, b, D]
    row_blocks = pattern.row_key_blocks(length, heads)  # [H, nb, 5 + r], nb = none
    rows = torch.arange(first, last)
    is_global = (rows == 0) | (rows == nb - 1)
    parts = []
    for group, every_block in ((rows[~is_global], False), (rows[is_global], True)):
        if not len(group):
            continue
        # global rows see every block; the others their row's blocks, [H, m', K]
        keys = torch.arange(nb).expand(heads, len(group), nb) if every_block else row_blocks[:, group]
        out = _rows(q_blocks[:, :, (group - first).to(q.device)], kv, keys, group, b, length, nb, alibi_slopes)
        parts.append((group, out))
    outs = torch.cat([p[1] for p in parts], dim=2)  # [B, H, m, b, Dv] in group order
    order = torch.argsort(torch.cat([p[0] for p in parts]))
    outs = outs[:, :, order.to(outs.device)].flatten(2, 3)  # [B, H, m * b, Dv]
    return outs[..., s - first * b : e - first * b, :]


def _rows(q: Tensor, kv: Tensor, keys: Tensor, rows: Tensor, b: int, length: int, nb: int,
          alibi_slopes: Tensor | None) -> Tensor:
    """Block rows ``rows`` [m] with queries q [B, H, m, b, D] over key blocks ``keys`` [H, m, K] (nb = none) of the
    gathered kv [B, H, L, D + Dv]: out [B, H, m, b, Dv]."""
    heads, d = q.shape[1], q.shape[-1]
    pos = (keys.unsqueeze(-1) * b + torch.arange(b)).flatten(-2)  # [H, m, K * b]
    valid = (keys < nb).repeat_interleave(b, dim=-1) & (pos < length)
    head = torch.arange(heads).view(heads, 1, 1)
    gathered = kv[:, head.to(kv.device), pos.clamp(max=length - 1).to(kv.device)]  # [B, H, m, K * b, D + Dv]
    k_rows, v_rows = gathered[..., :d], gathered[..., d:]
    bias = torch.zeros(valid.shape, dtype=q.dtype).masked_fill(~valid, float("-inf"))  # [H, m, K * b]
    bias = bias.unsqueeze(-2).to(q.device)  # [H, m, 1, K * b]
    if alibi_slopes is not None:
        q_pos = rows.view(-1, 1) * b + torch.arange(b)  # [m, b]
        distance = (q_pos.unsqueeze(-1) - pos.unsqueeze(-2)).abs().to(q.dtype).to(q.device)  # [H, m, b, K * b]
        bias = bias - alibi_slopes.to(q.dtype).view(-1, 1, 1, 1) * distance
    return F.scaled_dot_product_attention(q, k_rows, v_rows, attn_mask=bias)  # [B, H, m, b, Dv]
