"""SDPA-parts backend: a pattern split into a few *dense* attention calls over views or gathers of q, k, v, each
on SDPA's flash kernel, combined exactly.

FixedFactorized(block=l, summary=c), not causal, L a multiple of l, is two dense parts over disjoint keys,
merged by log-sum-exp:

- own block minus its summary columns: the blocks as a batch, [l queries] x [l - c keys] each;
- every summary column (j % l >= l - c), gathered: [L queries] x [L * c / l keys], one dense call.

BigBird(block=b, r random), L a multiple of b, at least 5 blocks, splits by *rows* (no merge):

- rows 2 .. nb-3: each block of queries against its 5 + r key blocks (window, the two global blocks, its random
  blocks) gathered per head, the blocks as a batch (the call covers every block row so that q needs no copy;
  the four other rows are dropped);
- rows 1 and nb-2, whose window holds a global block: the same with 4 + r key blocks;
- the global rows 0 and nb-1 against every key, the keys split into chunks as batch entries (so that many
  programs share the long rows) and the chunks merged by log-sum-exp.

Backward: with the final output O and log-sum-exp lse, each part's gradients are the flash backward of that
part given (O, lse) in place of its own (P_ij = exp(s_ij - lse_i), delta_i = rowsum(dO_i O_i)), which the flash
backward kernels take as inputs; rows a part does not own get lse = +inf there (P = 0: no gradient). Gathered
key gradients are scattered back with float32 index adds.

CUDA: ``torch.ops.aten._scaled_dot_product_flash_attention`` (float16 / bfloat16); CPU: its ``_for_cpu`` variant
(any float dtype), which the tests compare with the reference. Not in ``auto``'s first choices until measured
on a GPU against flex (see benchmarks/attention/README.md); name it to use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from genoattn.attention.merge import merge_lse, merge_lse_dim
from genoattn.attention.patterns import BigBird, FixedFactorized


def flash_forward(q: Tensor, k: Tensor, v: Tensor, scale: float) -> tuple[Tensor, Tensor, tuple]:
    """(out, lse [..., Lq] float32 natural log, what the backward needs) of dense attention, q/k/v [B, H, L, D]."""
    if q.is_cuda:
        result = torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, 0.0, False, False, scale=scale)
        return result[0], result[1], tuple(result[2:8])
    out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, False, scale=scale)
    return out, lse, ()


def flash_backward(grad: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, state: tuple,
                   scale: float) -> tuple[Tensor, Tensor, Tensor]:
    """(dq, dk, dv) of dense attention whose softmax is normalised by ``lse`` and whose output is ``out``."""
    if q.is_cuda:
        cum_q, cum_k, max_q, max_k, seed, offset = state
        return torch.ops.aten._scaled_dot_product_flash_attention_backward(
            grad, q, k, v, out, lse, cum_q, cum_k, max_q, max_k, 0.0, False, seed, offset, scale=scale)
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
        grad, q, k, v, out, lse, 0.0, False, scale=scale)


def _blocks(x: Tensor, block: int) -> Tensor:
    """[B, H, L, D] -> [B, H * n, block, D] (n = L / block; a view when the strides allow)."""
    return x.unflatten(2, (x.shape[2] // block, block)).flatten(1, 2)


def _fixed_parts(q: Tensor, k: Tensor, v: Tensor, block: int, summary: int):
    """The two parts' (q, k, v): own blocks without summary columns; all queries against the summary columns."""
    keep = block - summary
    own = (_blocks(q, block), _blocks(k, block)[:, :, :keep], _blocks(v, block)[:, :, :keep])  # [B, H*n, *, D]

    def columns(x: Tensor) -> Tensor:  # [B, H, n * c, D], a small copy
        return x.unflatten(2, (x.shape[2] // block, block))[:, :, :, keep:].flatten(2, 3).contiguous()

    return own, (q, columns(k), columns(v))


class FixedFactorizedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, block: int, summary: int) -> Tensor:
        scale = 1.0 / math.sqrt(q.shape[-1])
        own, columns = _fixed_parts(q, k, v, block, summary)
        out_own, lse_own, state_own = flash_forward(*own, scale)
        out_col, lse_col, state_col = flash_forward(*columns, scale)
        own_part = (out_own.reshape(q.shape), lse_own.reshape(q.shape[:3]))  # back to [B, H, L, (D)]
        out, lse = merge_lse([own_part, (out_col, lse_col)])
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.block, ctx.summary, ctx.scale, ctx.states = block, summary, scale, (state_own, state_col)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        q, k, v, out, lse = ctx.saved_tensors
        block, summary, scale = ctx.block, ctx.summary, ctx.scale
        grad = grad.contiguous()
        own, columns = _fixed_parts(q, k, v, block, summary)
        n = q.shape[2] // block
        dq_own, dk_own, dv_own = flash_backward(_blocks(grad, block), *own, _blocks(out, block),
                                                lse.unflatten(2, (n, block)).flatten(1, 2), ctx.states[0], scale)
        dq_col, dk_col, dv_col = flash_backward(grad, *columns, out, lse, ctx.states[1], scale)
        dk, dv = torch.empty_like(k), torch.empty_like(v)
        keep = block - summary
        for full, part_own, part_col in ((dk, dk_own, dk_col), (dv, dv_own, dv_col)):
            blocks = full.unflatten(2, (n, block))  # [B, H, n, l, D] view of the gradient being filled
            blocks[:, :, :, :keep] = part_own.reshape(*blocks.shape[:3], keep, -1)
            blocks[:, :, :, keep:] = part_col.reshape(*blocks.shape[:3], summary, -1)
        return dq_own.reshape(q.shape) + dq_col, dk, dv, None, None


def _gather_blocks(x: Tensor, table: Tensor, block: int) -> Tensor:
    """x [B, H, L, D], table int64 [H, R, W] of block numbers -> [B, H * R, W * block, D]: for head h and row i,
    the blocks table[h, i] of x, side by side."""
    blocks = x.unflatten(2, (x.shape[2] // block, block))  # [B, H, nb, b, D]
    heads = torch.arange(x.shape[1], device=x.device).view(-1, 1, 1)
    return blocks[:, heads, table].flatten(3, 4).flatten(1, 2)  # [B, H, R, W, b, D] -> [B, H*R, W*b, D]


def _scatter_blocks(target: Tensor, part: Tensor, table: Tensor, block: int) -> None:
    """Add ``part`` [B, H * R, W * block, D] into the blocks ``table`` [H, R, W] names of ``target`` [B, H, L, D]
    (contiguous, float32 or wider): the transpose of ``_gather_blocks``."""
    batch, heads, length, dim = target.shape
    nb = length // block
    index = (torch.arange(heads, device=table.device).view(-1, 1, 1) * nb + table).reshape(-1)  # [H*R*W]
    source = part.reshape(batch, -1, block, dim).to(target.dtype)  # [B, H*R*W, b, D]
    target.view(batch, heads * nb, block, dim).index_add_(1, index, source)


@lru_cache(maxsize=32)
def _bigbird_tables(pattern: BigBird, length: int, heads: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Key blocks per head and row: every row [H, nb, 5 + r] (window, globals, random; right for rows 2..nb-3,
    filler elsewhere) and the rows 1 and nb-2 [H, 2, 4 + r] (their window holds one global block). Made once per
    (pattern, length, heads, device): drawing the random layout and copying it to the device per call would
    put host work and a transfer on every forward and backward."""
    nb = length // pattern.block_size
    rand = pattern.random_layout(length, heads)  # [H, nb, r], -1 on the global rows
    rows = torch.arange(nb).view(nb, 1)
    fixed = torch.cat([rows - 1, rows, rows + 1, torch.zeros_like(rows), torch.full_like(rows, nb - 1)], 1)
    every = torch.cat([fixed.clamp(0, nb - 1).expand(heads, nb, 5), rand.clamp(min=0)], -1)  # [H, nb, 5 + r]
    edge_fixed = torch.tensor([[0, 1, 2, nb - 1], [0, nb - 3, nb - 2, nb - 1]]).expand(heads, 2, 4)
    edge = torch.cat([edge_fixed, rand[:, [1, nb - 2]]], -1)  # [H, 2, 4 + r]
    return every.to(device), edge.to(device)


@dataclass(frozen=True)
class _RowGroups:
    """BigBird's rows at one length besides rows 2..nb-3: rows 1 and nb-2 (``edge``), and the global rows 0 and
    nb-1 (``glob``), which run against the keys split into ``chunks`` chunks (up to 64, dividing the blocks)."""

    length: int
    block: int

    @property
    def edge(self) -> list[slice]:
        b, nb = self.block, self.length // self.block
        return [slice(b, 2 * b), slice((nb - 2) * b, (nb - 1) * b)]

    @property
    def glob(self) -> list[slice]:
        return [slice(0, self.block), slice(self.length - self.block, self.length)]

    @property
    def chunks(self) -> int:
        return max(c for c in (64, 32, 16, 8, 4, 2, 1) if (self.length // self.block) % c == 0)

    def edge_rows(self, x: Tensor) -> Tensor:
        """[B, H, L, ...] -> rows 1 and nb-2 as [B, H * 2, b, ...]."""
        return torch.stack([x[:, :, r] for r in self.edge], 2).flatten(1, 2)

    def glob_per_chunk(self, x: Tensor) -> Tensor:
        """[B, H, L, ...] -> the global rows [B, H, 2b, ...], one copy per key chunk: [B, H * chunks, 2b, ...]."""
        rows = torch.cat([x[:, :, r] for r in self.glob], 2)
        batch, heads = rows.shape[:2]
        return rows.unsqueeze(2).expand(batch, heads, self.chunks, *rows.shape[2:]).reshape(
            batch, heads * self.chunks, *rows.shape[2:])

    def key_chunks(self, x: Tensor) -> Tensor:
        """[B, H, L, D] -> [B, H * chunks, L / chunks, D]."""
        return x.reshape(x.shape[0], x.shape[1] * self.chunks, self.length // self.chunks, x.shape[3])

    def write(self, target: Tensor, edge: Tensor, glob: Tensor) -> None:
        """Write rows 1 and nb-2 (``edge`` [B, H, 2, b, ...]) and the global rows (``glob`` [B, H, 2b, ...]) into
        ``target`` [B, H, L, ...]."""
        b = self.block
        for i, r in enumerate(self.edge):
            target[:, :, r] = edge[:, :, i]
        for i, r in enumerate(self.glob):
            target[:, :, r] = glob[:, :, i * b:(i + 1) * b]


class BigBirdAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, pattern: BigBird) -> Tensor:
        batch, heads, length, dim = q.shape
        b, scale = pattern.block_size, 1.0 / math.sqrt(dim)
        every, edge = _bigbird_tables(pattern, length, heads, q.device)
        groups = _RowGroups(length, b)
        # rows 2 .. nb-3 (computed for every row)
        out, lse, state_every = flash_forward(_blocks(q, b), _gather_blocks(k, every, b), _gather_blocks(v, every, b),
                                              scale)
        out, lse = out.reshape(q.shape), lse.reshape(q.shape[:3])  # fresh tensors: the other rows are written in
        # rows 1 and nb-2
        out_edge, lse_edge, state_edge = flash_forward(groups.edge_rows(q), _gather_blocks(k, edge, b),
                                                       _gather_blocks(v, edge, b), scale)
        # global rows 0 and nb-1 against every key, in chunks merged by log-sum-exp
        out_c, lse_c, state_glob = flash_forward(groups.glob_per_chunk(q), groups.key_chunks(k), groups.key_chunks(v),
                                                 scale)
        chunks = groups.chunks
        out_glob, lse_glob = merge_lse_dim(out_c.reshape(batch, heads, chunks, 2 * b, dim),
                                           lse_c.reshape(batch, heads, chunks, 2 * b), dim=2)  # [B, H, 2b, (D)]
        groups.write(out, out_edge.reshape(batch, heads, 2, b, dim), out_glob)
        groups.write(lse, lse_edge.reshape(batch, heads, 2, b), lse_glob)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.pattern, ctx.states = pattern, (state_every, state_edge, state_glob)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        q, k, v, out, lse = ctx.saved_tensors
        state_every, state_edge, state_glob = ctx.states
        batch, heads, length, dim = q.shape
        b, scale = ctx.pattern.block_size, 1.0 / math.sqrt(dim)
        grad = grad.contiguous()
        every, edge = _bigbird_tables(ctx.pattern, length, heads, q.device)
        groups = _RowGroups(length, b)
        dk = torch.zeros(q.shape, device=q.device, dtype=torch.promote_types(q.dtype, torch.float32))
        dv = torch.zeros_like(dk)
        # rows 2 .. nb-3: the other rows get lse = +inf (no gradient from this part)
        lse_every = lse.clone()
        for r in groups.edge + groups.glob:
            lse_every[:, :, r] = float("inf")
        dq, dk_part, dv_part = flash_backward(
            _blocks(grad, b), _blocks(q, b), _gather_blocks(k, every, b), _gather_blocks(v, every, b), _blocks(out, b),
            lse_every.unflatten(2, (length // b, b)).flatten(1, 2), state_every, scale)
        dq = dq.reshape(q.shape)  # a fresh tensor: the other rows are written in below
        _scatter_blocks(dk, dk_part, every, b)
        _scatter_blocks(dv, dv_part, every, b)
        # rows 1 and nb-2
        dq_edge, dk_part, dv_part = flash_backward(
            groups.edge_rows(grad), groups.edge_rows(q), _gather_blocks(k, edge, b), _gather_blocks(v, edge, b),
            groups.edge_rows(out), groups.edge_rows(lse), state_edge, scale)
        _scatter_blocks(dk, dk_part, edge, b)
        _scatter_blocks(dv, dv_part, edge, b)
        # global rows, chunk by chunk
        dq_rep, dk_chunks, dv_chunks = flash_backward(
            groups.glob_per_chunk(grad), groups.glob_per_chunk(q), groups.key_chunks(k), groups.key_chunks(v),
            groups.glob_per_chunk(out), groups.glob_per_chunk(lse), state_glob, scale)
        dk += dk_chunks.reshape(q.shape)
        dv += dv_chunks.reshape(q.shape)
        groups.write(dq, dq_edge.reshape(batch, heads, 2, b, dim),
                     dq_rep.reshape(batch, heads, groups.chunks, 2 * b, dim).sum(2))
        return dq, dk.to(k.dtype), dv.to(v.dtype), None


class SdpaPartsBackend:
    name = "sdpa_parts"

    def can_run(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: object, alibi_slopes: Tensor | None = None
    ) -> str | None:
        reason = _pattern_reason(pattern, q.shape[2])
        if reason is not None:
            return reason
        if alibi_slopes is not None:
            return "no ALiBi (the flash kernels take no bias)"
        if q.is_cuda and q.dtype not in (torch.float16, torch.bfloat16):
            return f"SDPA's flash kernel takes float16 / bfloat16 on CUDA, got {q.dtype}"
        if any(t.stride(-1) != 1 for t in (q, k, v)):
            return "q, k, v need contiguous head dimensions (stride 1 in the last dim)"
        return None

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: object, alibi_slopes: Tensor | None = None
    ) -> Tensor:
        if type(pattern) is BigBird:
            return BigBirdAttention.apply(q, k, v, pattern)
        return FixedFactorizedAttention.apply(q, k, v, pattern.block, pattern.summary)


def _pattern_reason(pattern: object, length: int) -> str | None:
    """Why this backend has no plan for ``pattern`` at ``length`` (None: it has one)."""
    if type(pattern) is FixedFactorized:
        if pattern.causal:
            return "causal FixedFactorized: the summary columns would need a per-row limit (not a dense call)"
        if pattern.summary == 0 or pattern.summary >= pattern.block:
            return "needs 0 < summary < block (two non-empty parts)"
        if length % pattern.block:
            return f"L={length} is not a multiple of the block ({pattern.block})"
        return None
    if type(pattern) is BigBird:
        if length % pattern.block_size:
            return f"L={length} is not a multiple of the block ({pattern.block_size})"
        if length // pattern.block_size < 5:
            return f"needs at least 5 blocks of {pattern.block_size}, got {length // pattern.block_size}"
        return None
    return f"{type(pattern).__name__} has no dense-parts plan here (FixedFactorized, BigBird)"


backend = SdpaPartsBackend()
