"""Routing Transformer attention (Roy et al. 2021): content-based sparse attention via online k-means.

Per head h there are C centroids (buffer ``centroids`` [H, C, D]), shared by queries and keys. With
unit-normalised vectors, cluster c of head h takes the ``window`` queries and the ``window`` keys most
similar to its centroid (dot product of unit vectors; top-w along the sequence, so every cluster is
exactly w wide: balanced routing). Each cluster runs softmax attention of its queries over its keys
(scale 1/sqrt(D)). A query may be picked by several clusters or by none: its output is the sum of its
cluster outputs divided by (count + 1e-5), hence zero when no cluster picked it (docs/design.md, 2.3).

In training mode each forward, after routing with the current centroids, moves every centroid by EMA
towards the unit-normalised sum of the unit-normalised queries and keys whose nearest centroid it is
(spherical k-means): c <- decay * c + (1 - decay) * normalise(sum of assigned); clusters with nothing
assigned stay. Sums are all-reduced across processes when torch.distributed is initialised. Routing
decisions carry no gradient; q, k and v get the gradient of the attention within the clusters.

Bidirectional only: top-w selection over the whole sequence lets later positions decide which earlier
queries are routed, so a causal variant is not offered. Memory: O(B H C L) for the routing scores plus
O(B H C w (w + D)) for the clusters; scatter_add on CUDA is not bitwise deterministic.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn import functional as F

from genoattn.errors import ConfigError, InputError

COUNT_EPS = 1e-5


def _gather_rows(x: Tensor, index: Tensor) -> Tensor:
    """x [B, H, L, D] and index [B, H, C, w] -> rows [B, H, C, w, D]."""
    batch, heads, clusters, width = index.shape
    flat = index.reshape(batch, heads, clusters * width, 1).expand(-1, -1, -1, x.shape[-1])  # [B, H, C*w, D]
    return x.gather(2, flat).view(batch, heads, clusters, width, x.shape[-1])


class Routing(nn.Module):
    """Routing attention over q, k [B, H, L, D] and v [B, H, L, Dv] -> [B, H, L, Dv].

    Args:
        head_dim: D.
        num_clusters: C, centroids per head.
        window: w, queries and keys per cluster (min(w, L) on shorter inputs).
        num_heads: H; each head has its own C centroids.
        ema_decay: EMA decay of the centroid update in training mode.
        causal: must be False (see the module docstring).
        seed: makes the random initial centroids reproducible.
    """

    centroids: Tensor  # buffer [H, C, D]

    def __init__(
        self,
        head_dim: int,
        num_clusters: int,
        window: int,
        num_heads: int,
        ema_decay: float = 0.999,
        causal: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if min(head_dim, num_clusters, window, num_heads) < 1:
            raise ConfigError(
                "Routing needs head_dim, num_clusters, window, num_heads >= 1, got "
                f"{head_dim}, {num_clusters}, {window}, {num_heads}"
            )
        if not 0.0 <= ema_decay < 1.0:
            raise ConfigError(f"Routing ema_decay must be in [0, 1), got {ema_decay}")
        if causal:
            raise ConfigError("Routing is bidirectional only: top-w routing over the sequence sees future positions")
        self.head_dim, self.num_clusters, self.window, self.num_heads = head_dim, num_clusters, window, num_heads
        self.ema_decay = ema_decay
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        init = F.normalize(torch.randn(num_heads, num_clusters, head_dim, generator=generator), dim=-1)
        self.register_buffer("centroids", init)  # [H, C, D]

    def extra_repr(self) -> str:
        return (
            f"head_dim={self.head_dim}, num_clusters={self.num_clusters}, window={self.window}, "
            f"num_heads={self.num_heads}, ema_decay={self.ema_decay}"
        )

    def set_centroids(self, centroids: Tensor) -> None:
        """Replace the centroids with ``centroids`` [num_heads, num_clusters, head_dim] (copied)."""
        expected = (self.num_heads, self.num_clusters, self.head_dim)
        if tuple(centroids.shape) != expected:
            raise InputError(f"set_centroids expects shape {expected}, got {tuple(centroids.shape)}")
        with torch.no_grad():
            self.centroids.copy_(centroids)

    def _check(self, q: Tensor, k: Tensor, v: Tensor) -> None:
        ok = q.dim() == 4 and k.shape == q.shape and v.shape[:-1] == q.shape[:-1]
        if not ok or q.shape[1] != self.num_heads or q.shape[-1] != self.head_dim:
            raise InputError(
                f"Routing expects q, k [B, {self.num_heads}, L, {self.head_dim}] of equal shape and "
                f"v [B, {self.num_heads}, L, Dv], got q={tuple(q.shape)}, k={tuple(k.shape)}, v={tuple(v.shape)}"
            )
        if not (q.is_floating_point() and k.is_floating_point() and v.is_floating_point()):
            raise InputError(f"Routing expects floating-point q, k, v, got {q.dtype}, {k.dtype}, {v.dtype}")

    def route(self, q: Tensor, k: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Routing decisions (no gradient).

        Returns the top-w query and key positions per cluster (int64 [B, H, C, w] each) and the similarity
        of every query and key to every centroid ([B, H, C, L] each, float32 or float64).
        """
        dtype = torch.promote_types(q.dtype, torch.float32)
        width = min(self.window, q.shape[2])
        with torch.no_grad():
            cent = F.normalize(self.centroids.to(device=q.device, dtype=dtype), dim=-1)  # [H, C, D]
            sim_q = torch.einsum("hcd,bhld->bhcl", cent, F.normalize(q.to(dtype), dim=-1))  # [B, H, C, L]
            sim_k = torch.einsum("hcd,bhld->bhcl", cent, F.normalize(k.to(dtype), dim=-1))  # [B, H, C, L]
            q_index = sim_q.topk(width, dim=-1).indices  # [B, H, C, w]
            k_index = sim_k.topk(width, dim=-1).indices  # [B, H, C, w]
        return q_index, k_index, sim_q, sim_k

    @torch.no_grad()
    def update_centroids(self, q: Tensor, k: Tensor, sim_q: Tensor, sim_k: Tensor) -> None:
        """One EMA spherical k-means step from q, k [B, H, L, D] and their similarities [B, H, C, L]."""
        dtype = sim_q.dtype
        points = F.normalize(torch.cat([q, k], dim=2).to(dtype), dim=-1)  # [B, H, 2L, D]
        nearest = torch.cat([sim_q, sim_k], dim=3).argmax(dim=2)  # [B, H, 2L]
        batch, heads, n, dim = points.shape
        sums = points.new_zeros(batch, heads, self.num_clusters, dim)  # [B, H, C, D]
        sums.scatter_add_(2, nearest[..., None].expand(-1, -1, -1, dim), points)
        counts = points.new_zeros(batch, heads, self.num_clusters)  # [B, H, C]
        counts.scatter_add_(2, nearest, points.new_ones(batch, heads, n))
        sums, counts = sums.sum(dim=0), counts.sum(dim=0)  # [H, C, D], [H, C]
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(sums)
            dist.all_reduce(counts)
        target = F.normalize(sums, dim=-1).to(self.centroids.dtype)  # [H, C, D]
        moved = self.centroids * self.ema_decay + target * (1.0 - self.ema_decay)
        self.centroids.copy_(torch.where(counts[..., None] > 0, moved, self.centroids))

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Routing attention; q, k [B, H, L, D], v [B, H, L, Dv] -> [B, H, L, Dv] in q's dtype."""
        self._check(q, k, v)
        q_index, k_index, sim_q, sim_k = self.route(q, k)
        if self.training:
            self.update_centroids(q, k, sim_q, sim_k)
        dtype = sim_q.dtype
        batch, heads, length, dv = v.shape
        clusters, width = q_index.shape[2], q_index.shape[3]

        q_rows = _gather_rows(q.to(dtype), q_index)  # [B, H, C, w, D]
        k_rows = _gather_rows(k.to(dtype), k_index)  # [B, H, C, w, D]
        v_rows = _gather_rows(v.to(dtype), k_index)  # [B, H, C, w, Dv]
        scores = q_rows @ k_rows.transpose(-1, -2) / math.sqrt(self.head_dim)  # [B, H, C, w, w]
        cluster_out = torch.softmax(scores, dim=-1) @ v_rows  # [B, H, C, w, Dv]

        flat = q_index.reshape(batch, heads, clusters * width)  # [B, H, C*w]
        summed = v.new_zeros(batch, heads, length, dv, dtype=dtype).scatter_add(
            2, flat[..., None].expand(-1, -1, -1, dv), cluster_out.reshape(batch, heads, clusters * width, dv)
        )  # [B, H, L, Dv]
        count = v.new_zeros(batch, heads, length, dtype=dtype).scatter_add(
            2, flat, v.new_ones(batch, heads, clusters * width, dtype=dtype)
        )  # [B, H, L]
        return (summed / (count[..., None] + COUNT_EPS)).to(q.dtype)
