"""Differentiable exchanges between the ranks of a context-parallel group (torch.distributed; gloo or NCCL).

- ``all_reduce_sum``: the sum over ranks; its backward is the sum of the gradients over ranks.
- ``gather_range``: each rank gets the rows [lo, hi) of a sequence sharded by ``Shards`` (its halo, or every row)
  by point-to-point sends from the ranks that hold them; the backward sends each row's gradient back to its owner,
  which adds it to its own rows' gradient.

Tensors are ``[..., L, D]`` with the sequence on dimension -2. Every rank of the group must call the same exchanges
in the same order (they do: every rank runs the same model).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from genoattn.attention.context_parallel.shards import Shards

Range = tuple[int, int]


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, group: dist.ProcessGroup | None) -> Tensor:
        ctx.group = group
        out = x.contiguous().clone()
        dist.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad, None


def all_reduce_sum(x: Tensor, group: dist.ProcessGroup | None = None) -> Tensor:
    """Sum of ``x`` over the group's ranks, with autograd (every rank's gradient is the sum of theirs)."""
    return _AllReduceSum.apply(x, group)


def _overlap(a: Range, b: Range) -> Range | None:
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if lo < hi else None


def _exchange(shards: Shards, sends: dict[int, Tensor], recv_shapes: dict[int, tuple[int, ...]], like: Tensor
              ) -> dict[int, Tensor]:
    """Post every send and receive (group ranks -> tensors), then wait for all: no ordering deadlock."""
    received = {r: like.new_empty(shape) for r, shape in recv_shapes.items()}
    work = [dist.isend(t.contiguous(), shards.global_rank(r), group=shards.group) for r, t in sends.items()]
    work += [dist.irecv(t, shards.global_rank(r), group=shards.group) for r, t in received.items()]
    for w in work:
        assert w is not None  # None only for a rank outside the group
        w.wait()
    return received


class _GatherRange(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, shards: Shards, needs: tuple[Range, ...]) -> Tensor:
        ctx.shards, ctx.needs, ctx.local_shape = shards, needs, x.shape
        me, start = shards.rank, shards.start
        own = shards.bounds[me]
        sends = {}
        for r, need in enumerate(needs):  # my rows that rank r needs
            part = _overlap(need, own) if r != me else None
            if part is not None:
                sends[r] = x[..., part[0] - start : part[1] - start, :]
        recv_shapes = {}
        for r, bound in enumerate(shards.bounds):  # rows of rank r that I need
            part = _overlap(needs[me], bound) if r != me else None
            if part is not None:
                recv_shapes[r] = (*x.shape[:-2], part[1] - part[0], x.shape[-1])
        received = _exchange(shards, sends, recv_shapes, x)
        pieces = []
        for r, bound in enumerate(shards.bounds):  # ranks hold ascending ranges: rank order is position order
            part = _overlap(needs[me], bound)
            if part is not None:
                pieces.append(x[..., part[0] - start : part[1] - start, :] if r == me else received[r])
        return torch.cat(pieces, dim=-2)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        shards, needs = ctx.shards, ctx.needs
        me, start = shards.rank, shards.start
        own, lo = shards.bounds[me], needs[me][0]
        grad_x = grad.new_zeros(ctx.local_shape)
        sends = {}
        for r, bound in enumerate(shards.bounds):  # gradients of the rows I received go back to their owners
            part = _overlap(needs[me], bound)
            if part is None:
                continue
            piece = grad[..., part[0] - lo : part[1] - lo, :]
            if r == me:
                grad_x[..., part[0] - start : part[1] - start, :] += piece
            else:
                sends[r] = piece
        recv_shapes = {}
        for r, need in enumerate(needs):
            part = _overlap(need, own) if r != me else None
            if part is not None:
                recv_shapes[r] = (*grad.shape[:-2], part[1] - part[0], grad.shape[-1])
        received = _exchange(shards, sends, recv_shapes, grad)
        for r, piece in received.items():
            part = _overlap(needs[r], own)
            assert part is not None  # rank r sent back rows of my shard
            grad_x[..., part[0] - start : part[1] - start, :] += piece
        return grad_x, None, None


def gather_range(x: Tensor, shards: Shards, needs: tuple[Range, ...]) -> Tensor:
    """Rows ``needs[rank]`` = [lo, hi) of the sharded sequence whose local part is ``x`` [..., size, D].

    ``needs[r]`` is every rank's range (each rank computes all of them, so nobody has to be told what to send);
    each must cover that rank's own shard. Returns [..., hi - lo, D]; differentiable.
    """
    for r, (need, bound) in enumerate(zip(needs, shards.bounds)):
        if not (0 <= need[0] <= bound[0] and bound[1] <= need[1] <= shards.length):
            raise ValueError(f"gather_range: rank {r} needs {need}, which must cover its shard {bound}")
    return _GatherRange.apply(x, shards, needs)
