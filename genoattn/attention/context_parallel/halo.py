"""Context-parallel attention of the band patterns and Longformer: local queries, a halo of keys, global tokens.

Rank r holds tokens [s, e). A band pattern's query i sees keys within ``layer_radius()`` R of i, so the rank
gathers the keys of [lo, hi) = [s - R, e + R) clipped to the sequence (``gather_range``: point-to-point from the
neighbours that hold them) and runs the pattern on that stretch with the configured backend, keeping the rows of
its own queries (the halo's query rows get zeros and are dropped). On that stretch the pattern is the same relation
shifted by lo: SlidingWindow and DilatedSlidingWindow depend on i - j only; Neighborhood's windows, which shift at
the ends of the sequence, shift exactly where the stretch meets a sequence end (R = 2(k - 1)d is more than the
k // 2 class steps that need) and nowhere else. ALiBi's |i - j| is unchanged by the shift.

Longformer adds global tokens: their q/k/v rows are summed over the ranks (each rank fills the ones it holds). The
global keys outside [lo, hi) are put in front of the stretch and marked global in a local Longformer, with the
global keys inside it (causal: only the ones before lo, the others are in nobody's past). Global query rows see every
key: each rank scores them against its own keys, and the softmax is assembled from per-rank sums under one shared
row maximum (two all-reduces of [B, H, G, ...]). ALiBi with global tokens is refused (the keys put in front of the
stretch would get wrong distances).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from genoattn.attention.context_parallel.collectives import all_reduce_sum, gather_range
from genoattn.attention.context_parallel.shards import Shards
from genoattn.attention.dispatch import attend
from genoattn.attention.patterns import Longformer, Pattern


def without_globals(pattern: Pattern) -> Pattern:
    """The pattern's local part (Longformer without its global tokens; the others as they are)."""
    return dataclasses.replace(pattern, global_tokens=()) if isinstance(pattern, Longformer) else pattern


def halo_ranges(pattern: Pattern, shards: Shards) -> tuple[tuple[int, int], ...]:
    """Every rank's key range [s - R, e + R), clipped to the sequence; R is the local part's layer radius."""
    radius = without_globals(pattern).layer_radius()
    if radius is None:
        raise ValueError(f"{pattern} has no bounded reach")
    return tuple((max(0, s - radius), min(shards.length, e + radius)) for s, e in shards.bounds)


def attend_halo(q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, shards: Shards, backend: str = "auto",
                alibi_slopes: Tensor | None = None) -> Tensor:
    """Attention of this rank's queries q [B, H, n, D] over the whole sharded sequence; k, v hold its own keys."""
    s, e = shards.start, shards.end
    needs = halo_ranges(pattern, shards)
    lo, hi = needs[shards.rank]
    kv = gather_range(torch.cat([k, v], dim=-1), shards, needs)  # [B, H, hi - lo, D + Dv]
    k_near, v_near = kv.split([k.shape[-1], v.shape[-1]], dim=-1)
    q_near = F.pad(q, (0, 0, s - lo, hi - e))  # [B, H, hi - lo, D]; halo rows are dropped below
    glob = pattern.global_positions(shards.length)  # [G]
    if not len(glob):
        out = attend(q_near, k_near, v_near, pattern, backend=backend, alibi_slopes=alibi_slopes)
        return out[..., s - lo : e - lo, :]
    q_glob, k_glob, v_glob = _global_rows(q, k, v, glob, shards)  # each [B, H, G, .]
    front = (glob < lo) if pattern.causal else (glob < lo) | (glob >= hi)  # global keys put before the stretch
    inside = (glob >= lo) & (glob < hi)
    n_front = int(front.sum())
    local_globals = tuple(range(n_front)) + tuple(n_front + int(g) - lo for g in glob[inside])
    assert isinstance(pattern, Longformer)  # the halo pattern with global tokens
    local = dataclasses.replace(pattern, global_tokens=local_globals)
    k_all = torch.cat([k_glob[..., front, :], k_near], dim=-2)  # [B, H, n_front + hi - lo, D]
    v_all = torch.cat([v_glob[..., front, :], v_near], dim=-2)
    q_all = F.pad(q_near, (0, 0, n_front, 0))
    out = attend(q_all, k_all, v_all, local, backend=backend)[..., n_front + s - lo : n_front + e - lo, :]
    rows = _global_query_rows(q_glob, k, v, glob, shards, pattern.causal)  # [B, H, G, Dv]; every rank joins
    mine = (glob >= s) & (glob < e)
    return out.index_copy(-2, (glob[mine] - s).to(out.device), rows[..., mine, :])


def _global_rows(q: Tensor, k: Tensor, v: Tensor, glob: Tensor, shards: Shards) -> tuple[Tensor, Tensor, Tensor]:
    """q, k, v rows of the global positions, from the ranks that hold them: each [B, H, G, .]."""
    s, e = shards.start, shards.end
    mine = (glob >= s) & (glob < e)
    qkv = torch.cat([q, k, v], dim=-1)  # [B, H, n, 2D + Dv]
    rows = qkv.new_zeros(*qkv.shape[:-2], len(glob), qkv.shape[-1])
    rows = rows.index_copy(-2, mine.nonzero().flatten().to(q.device), qkv[..., (glob[mine] - s).to(q.device), :])
    rows = all_reduce_sum(rows, shards.group)  # [B, H, G, 2D + Dv]
    return rows.split([q.shape[-1], k.shape[-1], v.shape[-1]], dim=-1)


def _global_query_rows(q_glob: Tensor, k: Tensor, v: Tensor, glob: Tensor, shards: Shards, causal: bool) -> Tensor:
    """Outputs [B, H, G, Dv] of the global queries over every key: per-rank exp-sums under one shared row max."""
    scores = q_glob @ k.transpose(-1, -2) / math.sqrt(q_glob.shape[-1])  # [B, H, G, n]
    if causal:
        keys = torch.arange(shards.start, shards.end, device=k.device)
        scores = scores.masked_fill(keys[None, :] > glob.to(k.device)[:, None], float("-inf"))
    row_max = scores.detach().amax(-1, keepdim=True)  # [B, H, G, 1]
    dist.all_reduce(row_max, op=dist.ReduceOp.MAX, group=shards.group)  # a constant: any shared value is exact
    weights = torch.exp(scores - row_max)  # [B, H, G, n]
    sums = torch.cat([weights @ v, weights.sum(-1, keepdim=True)], dim=-1)  # [B, H, G, Dv + 1]
    sums = all_reduce_sum(sums, shards.group)
    return sums[..., :-1] / sums[..., -1:]
