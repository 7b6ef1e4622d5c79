"""Dense attention on SDPA's flash kernels with the log-sum-exp exposed, for backends that split a pattern into
parts: forward returns (out, lse), and backward takes the *final* output and log-sum-exp of the whole pattern in
place of the part's own (P_ij = exp(s_ij - lse_i), delta_i = rowsum(dO_i O_i)), which gives exactly the part's
share of the gradients; rows a part does not own get lse = +inf there (P = 0: no gradient).

CUDA: ``torch.ops.aten._scaled_dot_product_flash_attention`` (float16 / bfloat16); CPU: its ``_for_cpu``
variant (any float dtype), which the tests compare with the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

GRID_LIMIT = 65535  # CUDA's grid y / z limit: the flash kernels put batch and heads there


def flash_forward(q: Tensor, k: Tensor, v: Tensor, scale: float) -> tuple[Tensor, Tensor, tuple]:
    """(out, lse [..., Lq] float32 natural log, what the backward needs) of dense attention, q/k/v [B, H, L, D].
    More than ``GRID_LIMIT`` heads (blocks as heads) run in several calls."""
    if q.shape[1] > GRID_LIMIT:
        heads = [slice(i, i + GRID_LIMIT) for i in range(0, q.shape[1], GRID_LIMIT)]
        parts = [flash_forward(q[:, h], k[:, h], v[:, h], scale) for h in heads]
        return torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts], 1), tuple(p[2] for p in parts)
    if q.is_cuda:
        result = torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, 0.0, False, False, scale=scale)
        return result[0], result[1], tuple(result[2:8])
    out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, False, scale=scale)
    return out, lse, ()


def flash_backward(grad: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, state: tuple,
                   scale: float) -> tuple[Tensor, Tensor, Tensor]:
    """(dq, dk, dv) of dense attention whose softmax is normalised by ``lse`` and whose output is ``out``."""
    if q.shape[1] > GRID_LIMIT:
        heads = [slice(i, i + GRID_LIMIT) for i in range(0, q.shape[1], GRID_LIMIT)]
        parts = [flash_backward(grad[:, h], q[:, h], k[:, h], v[:, h], out[:, h], lse[:, h], part_state, scale)
                 for h, part_state in zip(heads, state)]
        dq, dk, dv = (torch.cat([p[j] for p in parts], 1) for j in range(3))
        return dq, dk, dv
    if q.is_cuda:
        cum_q, cum_k, max_q, max_k, seed, offset = state
        return torch.ops.aten._scaled_dot_product_flash_attention_backward(
            grad, q, k, v, out, lse, cum_q, cum_k, max_q, max_k, 0.0, False, seed, offset, scale=scale)
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
        grad, q, k, v, out, lse, 0.0, False, scale=scale)


@dataclass(frozen=True)
class EdgeRows:
    """The first and the last ``rows`` query positions against every key (BigBird's global rows), on the flash
    kernels: the keys split into ``chunks`` batch entries (so that many programs share the long rows; up to 64,
    dividing L / rows) whose results the caller merges by log-sum-exp (``per_chunk``)."""

    length: int
    rows: int

    @property
    def slices(self) -> list[slice]:
        return [slice(0, self.rows), slice(self.length - self.rows, self.length)]

    @property
    def chunks(self) -> int:
        return max(c for c in (64, 32, 16, 8, 4, 2, 1) if (self.length // self.rows) % c == 0)

    def take(self, x: Tensor) -> Tensor:
        """[B, H, L, ...] -> the edge rows [B, H, 2 * rows, ...]."""
        return torch.cat([x[:, :, s] for s in self.slices], 2)

    def put(self, target: Tensor, rows: Tensor) -> None:
        """Write ``rows`` [B, H, 2 * rows, ...] into the edge rows of ``target`` [B, H, L, ...]."""
        for i, s in enumerate(self.slices):
            target[:, :, s] = rows[:, :, i * self.rows:(i + 1) * self.rows]

    def _per_chunk_rows(self, x: Tensor) -> Tensor:
        """[B, H, L, ...] -> the edge rows, one copy per key chunk: [B, H * chunks, 2 * rows, ...] (one copy
        kernel)."""
        batch, heads = x.shape[:2]
        rows = [x[:, :, s].unsqueeze(2).expand(batch, heads, self.chunks, *x[:, :, s].shape[2:]) for s in self.slices]
        return torch.cat(rows, 3).flatten(1, 2)

    def _key_chunks(self, x: Tensor) -> Tensor:
        """[B, H, L, D] -> [B, H * chunks, L / chunks, D] (a view of contiguous rows)."""
        return x.reshape(x.shape[0], x.shape[1] * self.chunks, self.length // self.chunks, x.shape[3])

    def per_chunk(self, q: Tensor, k: Tensor, v: Tensor, scale: float) -> tuple[Tensor, Tensor, tuple]:
        """The edge rows against each key chunk, unmerged: (out [B, H * chunks, 2 * rows, D], lse
        [B, H * chunks, 2 * rows], state for ``backward``); ``merge_lse_dim`` over the chunks, or one kernel
        (triton_blocks), gives the rows' result."""
        return flash_forward(self._per_chunk_rows(q), self._key_chunks(k), self._key_chunks(v), scale)

    def backward(self, grad: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, state: tuple,
                 scale: float) -> tuple[Tensor, Tensor, Tensor]:
        """(dq of the edge rows [B, H, 2 * rows, D], their share of dk and dv [B, H, L, D], contiguous) given the final
        ``out`` [B, H, L, D] and ``lse`` [B, H, L]."""
        batch, heads, _, dim = q.shape
        rows, keys = self._per_chunk_rows, self._key_chunks
        dq, dk, dv = flash_backward(rows(grad), rows(q), keys(k), keys(v), rows(out), rows(lse), state, scale)
        dq = dq.reshape(batch, heads, self.chunks, -1, dim).sum(2)
        return dq, dk.reshape(q.shape).contiguous(), dv.reshape(q.shape).contiguous()
