"""Triton block-table backend: BigBird on a kernel that walks whole key blocks, with its global rows on SDPA.

BigBird (L a multiple of the block b, at least 3 blocks) splits by rows, so no merge over the long dimension:

- rows 1 .. nb-2 (``genoattn.attention.kernels.block_table_triton``): each query block against its table of
  key blocks (window, the two global blocks, its random blocks; 5 + r, or 4 + r next to a global row), every
  block wholly visible: no masks, and every program has the same few blocks to walk;
- the global rows 0 and nb-1 against every key: dense flash calls over key chunks
  (``genoattn.attention.dense_flash.EdgeRows``), so that many programs share those long rows, merged by
  log-sum-exp straight into the output by one kernel (``edge_rows_merge_kernel``; a handful of PyTorch ops
  there cost more host time per call than the GPU spends on the whole forward at 64k).

Backward from the final output and log-sum-exp: the global rows' flash backward gives their dQ and their share of
dK, dV for every key; the dQ kernel walks the forward's table; the dK/dV kernel adds the other rows' share, one
program per key block and the rows that see it, except for the two global key blocks, which every row sees: their
rows are split over ``slots`` programs each, whose float32 partial sums are added afterwards (deterministic).

Runs where the Triton band backend does (CUDA, or CPU under ``TRITON_INTERPRET=1`` for the tests); no ALiBi.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from genoattn.attention.dense_flash import EdgeRows
from genoattn.attention.kernels.launch import (
    INTERPRET,
    TUNE,
    TritonBackend,
    launch,
    output_delta,
    patch_interpreter_index,
    precision,
    run_kernel,
    tensor_reason,
)
from genoattn.attention.patterns import BigBird

SLOTS = 64  # programs the rows of one global key block are split over in the dK/dV kernel (at most)


@dataclass(frozen=True)
class BlockTables:
    """BigBird's key blocks for rows 1..nb-2, and the dK/dV kernel's items (int32, on the device)."""

    cols: Tensor  # [H, nb - 2, 5 + r]: row 1 + i's key blocks, ascending, the first counts[h, i] valid
    counts: Tensor  # [H, nb - 2]
    item_kb: Tensor  # [H, items]: the key block of each item (1..nb-2, then the global blocks' slots)
    item_slot: Tensor  # [H, items]: -1, or the partial-sum slot of a global key block's item
    item_count: Tensor  # [H, items]
    item_rows: Tensor  # [H, items, max rows]: the query blocks each item walks
    slots: int  # items per global key block


def _unique_sorted(cand: Tensor, sentinel: int) -> tuple[Tensor, Tensor]:
    """Each row of ``cand`` [..., n] (values < sentinel) sorted with repeats removed, padded with 0; and counts."""
    cand, _ = torch.sort(cand, dim=-1)
    repeat = torch.zeros_like(cand, dtype=torch.bool)
    repeat[..., 1:] = cand[..., 1:] == cand[..., :-1]
    cand, _ = torch.sort(torch.where(repeat, sentinel, cand), dim=-1)
    counts = (cand < sentinel).sum(-1)
    return torch.where(cand < sentinel, cand, 0), counts


def _row_tables(pattern: BigBird, length: int, heads: int) -> tuple[Tensor, Tensor]:
    """Rows 1..nb-2's key blocks [H, nb - 2, 5 + r] (window, globals, random; ascending, padded with 0) and their
    counts [H, nb - 2]."""
    nb = length // pattern.block_size
    rows = torch.arange(1, nb - 1)
    rand = pattern.random_layout(length, heads).expand(heads, nb, -1)[:, 1:-1]  # [H, nb - 2, r]
    fixed = torch.stack([rows - 1, rows, rows + 1, torch.zeros_like(rows), torch.full_like(rows, nb - 1)], 1)
    return _unique_sorted(torch.cat([fixed.expand(heads, -1, -1), rand], -1), nb)


def _local_items(cols: Tensor, counts: Tensor, nb: int) -> tuple[Tensor, Tensor]:
    """For each head and key block 1..nb-2, the rows (1..nb-2) whose table holds it, ascending, padded with 0:
    [H, nb - 2, widest]; and their counts [H, nb - 2] (the transpose of the row tables, globals left out)."""
    heads = cols.shape[0]
    valid = torch.arange(cols.shape[-1]) < counts.unsqueeze(-1)
    h, r, c = torch.nonzero(valid & (cols > 0) & (cols < nb - 1), as_tuple=True)
    group = h * nb + cols[h, r, c]  # (head, key block)
    order = torch.argsort(group * nb + r + 1)
    group, rows = group[order], (r + 1)[order]
    per_group = torch.bincount(group, minlength=heads * nb)
    rank = torch.arange(group.numel()) - (torch.cumsum(per_group, 0) - per_group)[group]
    count = per_group.view(heads, nb)[:, 1:-1]
    table = torch.zeros(heads, nb - 2, int(count.max()), dtype=torch.long)
    table[group // nb, group % nb - 1, rank] = rows
    return table, count


def _global_items(nb: int) -> tuple[Tensor, Tensor, int]:
    """The rows 1..nb-2 in ``slots`` runs of at least 8 (at most SLOTS runs), for each of the two global key
    blocks: rows [2 * slots, run] (padded with nb - 2), counts [2 * slots], and slots."""
    run = max(8, -(-(nb - 2) // SLOTS))
    slots = -(-(nb - 2) // run)
    rows = torch.arange(slots * run).view(slots, run) + 1
    count = (nb - 1 - rows[:, 0]).clamp(max=run)
    return rows.clamp(max=nb - 2).repeat(2, 1), count.repeat(2), slots


@lru_cache(maxsize=32)
def bigbird_tables(pattern: BigBird, length: int, heads: int, device: torch.device) -> BlockTables:
    """The tables of ``pattern`` at ``length`` with ``heads`` heads, made once per (pattern, length, heads,
    device) (drawing the layout and copying it to the device per call would put host work on every call)."""
    nb = length // pattern.block_size
    cols, counts = _row_tables(pattern, length, heads)
    local_rows, local_count = _local_items(cols, counts, nb)
    global_rows, global_count, slots = _global_items(nb)
    width = max(local_rows.shape[-1], global_rows.shape[-1])

    def pad(x: Tensor) -> Tensor:
        return torch.nn.functional.pad(x, (0, width - x.shape[-1]))

    def per_head(x: Tensor) -> Tensor:
        return x.expand(heads, *x.shape)

    item_kb = torch.cat([torch.arange(1, nb - 1), torch.zeros(slots, dtype=torch.long), torch.full((slots,), nb - 1)])
    item_slot = torch.cat([torch.full((nb - 2,), -1), torch.arange(2 * slots)])
    tables = BlockTables(
        cols=cols, counts=counts, item_kb=per_head(item_kb), item_slot=per_head(item_slot),
        item_count=torch.cat([local_count, per_head(global_count)], 1),
        item_rows=torch.cat([pad(local_rows), per_head(pad(global_rows))], 1), slots=slots)
    return BlockTables(**{name: value.to(device=device, dtype=torch.int32).contiguous() if isinstance(value, Tensor)
                          else value for name, value in tables.__dict__.items()})


_kernels: dict = {}


def _autotuned():
    """The three kernels, wrapped in triton.autotune (the last configuration, small tiles, under the
    interpreter). Tiles must divide the block: ``_fitting`` drops those that do not (every list ends with 16 x 16,
    which divides every block the backend takes)."""
    if _kernels:
        return _kernels
    import triton

    from genoattn.attention.kernels import block_table_triton as kt

    patch_interpreter_index()

    def configs(options):
        options = options[-1:] if INTERPRET else options
        return [triton.Config({"BLOCK_M": m, "BLOCK_N": n}, num_warps=w, num_stages=s) for m, n, w, s in options]

    key = ["L", "HEAD_DIM", "BS"]
    prune = {"early_config_prune": _fitting}
    # (BLOCK_M, BLOCK_N, warps, stages); the last: the interpreter's
    forward = [(128, 64, 8, 3), (64, 64, 4, 3), (128, 128, 8, 3), (64, 128, 4, 3), (16, 16, 4, 2)]
    dkdv = [(64, 64, 4, 3), (32, 64, 4, 3), (64, 128, 8, 3), (32, 128, 8, 3), (16, 16, 4, 2)]
    dq = [(64, 64, 4, 3), (128, 64, 8, 3), (64, 32, 4, 3), (128, 32, 8, 3), (16, 16, 4, 2)]
    _kernels["fwd"] = triton.autotune(configs(forward), key=key, prune_configs_by=prune)(kt.block_table_fwd_kernel)
    _kernels["dq"] = triton.autotune(configs(dq), key=key, prune_configs_by=prune)(kt.block_table_dq_kernel)
    _kernels["dkdv"] = triton.autotune(configs(dkdv), key=key, prune_configs_by=prune,
                                       restore_value=["DK", "DV"])(kt.block_table_dkdv_kernel)
    return _kernels


def _fitting(configs, named_args, **kwargs):
    """The configurations whose tiles divide the block, in order (without tuning: the first of them)."""
    block = kwargs["BS"]
    fit = [c for c in configs if block % c.kwargs["BLOCK_M"] == 0 and block % c.kwargs["BLOCK_N"] == 0]
    fit = fit[:-1] if len(fit) > 1 else fit  # the small tiles only where nothing else fits
    return fit if TUNE else fit[:1]


def _launch(name: str, q: Tensor, block: int, programs: int, tile: str, args: tuple,
            blocks: tuple[int, int] | None) -> bool:
    """Run kernel ``name`` over (programs * block // tile, B * H); ``blocks`` fixes (BLOCK_M, BLOCK_N) (tests),
    else autotuned (True when this call autotuned)."""
    batch, heads, length, head_dim = q.shape
    kwargs = {"HEAD_DIM": head_dim, "BS": block, "PRECISION": precision(q)}

    def grid(meta: dict) -> tuple[int, int]:
        return (programs * block // meta[tile], batch * heads)

    tiles = None if blocks is None else {"BLOCK_M": blocks[0], "BLOCK_N": blocks[1]}
    return launch(_autotuned()[name], (name, tuple(q.shape), q.dtype, block), grid, args, kwargs, tiles)


def bigbird_forward(q: Tensor, k: Tensor, v: Tensor, pattern: BigBird,
                    blocks: tuple[int, int] | None = None) -> tuple[Tensor, Tensor, tuple]:
    """(out [B, H, L, D], lse [B, H, L] float32 natural log, the global rows' flash state) of BigBird attention;
    ``blocks`` fixes the forward kernel's (BLOCK_M, BLOCK_N)."""
    batch, heads, length, head_dim = q.shape
    b, scale = pattern.block_size, 1.0 / math.sqrt(head_dim)
    tables = bigbird_tables(pattern, length, heads, q.device)
    out = torch.empty(q.shape, device=q.device, dtype=q.dtype)
    lse = torch.empty(batch, heads, length, device=q.device, dtype=torch.float32)
    args = (q, k, v, out, lse, tables.cols, tables.counts, *q.stride()[:3], *k.stride()[:3], *v.stride()[:3],
            *out.stride()[:3], tables.cols.stride(0), heads, length, 1, tables.cols.shape[-1], scale)
    _launch("fwd", q, b, length // b - 2, "BLOCK_M", args, blocks)
    edges = EdgeRows(length, b)
    out_chunks, lse_chunks, state = edges.per_chunk(q, k, v, scale)  # merged into out, lse by one kernel
    from genoattn.attention.kernels.block_table_triton import edge_rows_merge_kernel

    run_kernel(edge_rows_merge_kernel, (-(-2 * b // 32), batch * heads),
               (out_chunks.contiguous(), lse_chunks.contiguous(), out, lse, *out.stride()[:3], heads, length,
                edges.chunks, b),
               {"HEAD_DIM": head_dim, "BLOCK": 32})
    return out, lse, state


def bigbird_backward(grad: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, pattern: BigBird,
                     state: tuple, blocks: tuple[tuple[int, int], tuple[int, int]] | None = None
                     ) -> tuple[Tensor, Tensor, Tensor]:
    """(dq, dk, dv) of ``bigbird_forward``; ``blocks`` fixes (BLOCK_M, BLOCK_N) of the dK/dV and the dQ kernel."""
    batch, heads, length, head_dim = q.shape
    b, scale = pattern.block_size, 1.0 / math.sqrt(head_dim)
    tables = bigbird_tables(pattern, length, heads, q.device)
    grad = grad.contiguous()
    _autotuned()
    delta = output_delta(out, grad)  # rowsum(dO * O)
    edges = EdgeRows(length, b)
    dq_edge, dk, dv = edges.backward(grad, q, k, v, out, lse, state, scale)  # dk, dv: contiguous [B, H, L, D]
    dkdv_blocks, dq_blocks = blocks if blocks is not None else (None, None)
    dq = torch.empty(q.shape, device=q.device, dtype=q.dtype)
    strides = (*q.stride()[:3], *k.stride()[:3], *v.stride()[:3], *grad.stride()[:3])
    _launch("dq", q, b, length // b - 2, "BLOCK_M",
            (q, k, v, grad, dq, lse, delta, tables.cols, tables.counts, *strides, *dq.stride()[:3],
             tables.cols.stride(0), heads, length, 1, tables.cols.shape[-1], scale), dq_blocks)
    edges.put(dq, dq_edge)
    partial = torch.empty(2, 2 * tables.slots, batch, heads, b, head_dim, device=q.device)  # dK, dV sums
    items = tables.item_kb.shape[1]
    _launch("dkdv", q, b, items, "BLOCK_N",
            (q, k, v, grad, dk, dv, partial[0], partial[1], lse, delta, tables.item_kb, tables.item_slot,
             tables.item_count, tables.item_rows, *strides, tables.item_kb.stride(0), batch, heads, length, items,
             tables.item_rows.shape[-1], scale), dkdv_blocks)
    sums = partial.view(2, 2, tables.slots, batch, heads, b, head_dim).sum(2)  # [dK/dV, global block, B, H, b, D]
    for grads, part in ((dk, sums[0]), (dv, sums[1])):
        edges.put(grads, edges.take(grads) + torch.cat([part[0], part[1]], 2))
    return dq, dk.to(k.dtype), dv.to(v.dtype)


class BigBirdBlocks(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, pattern: BigBird) -> Tensor:
        out, lse, state = bigbird_forward(q, k, v, pattern)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.pattern, ctx.state = pattern, state
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        q, k, v, out, lse = ctx.saved_tensors
        return (*bigbird_backward(grad, q, k, v, out, lse, ctx.pattern, ctx.state), None)


class TritonBlocksBackend(TritonBackend):
    name = "triton_blocks"

    def can_run(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: object, alibi_slopes: Tensor | None = None
    ) -> str | None:
        if type(pattern) is not BigBird:
            return f"{type(pattern).__name__} has no block-table plan here (BigBird)"
        length, b = q.shape[2], pattern.block_size
        if length % b:
            return f"L={length} is not a multiple of the block ({b})"
        if length // b < 3:
            return f"needs at least 3 blocks of {b}, got {length // b} (all rows global: dense attention)"
        if b < 16 or b & (b - 1):
            return f"the block must be a power of two >= 16 (whole kernel tiles), got {b}"
        if alibi_slopes is not None:
            return "no ALiBi"
        reason = tensor_reason(q, k, v)
        if reason:
            return reason
        if q.is_cuda and q.dtype == torch.float32:
            return "the global rows run on SDPA's flash kernel: float16 / bfloat16 on CUDA"
        bigbird_tables(pattern, length, q.shape[1], q.device)  # cached; InputError for a layout that does not fit
        return None

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: object, alibi_slopes: Tensor | None = None
    ) -> Tensor:
        if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
            return BigBirdBlocks.apply(q, k, v, pattern)
        return bigbird_forward(q, k, v, pattern)[0]


backend = TritonBlocksBackend()
