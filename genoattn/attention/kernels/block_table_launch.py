"""Launching the block-table kernels (``block_table_triton``) for BigBird: forward and backward.

Rows 1..nb-2 walk their table of whole key blocks (``block_tables``); the global rows 0 and nb-1 run as dense flash
calls over key chunks (``dense_flash.EdgeRows``), merged into the output by ``edge_rows_merge_kernel``. The backward
starts from the final output and log-sum-exp: the global rows' flash backward gives their dQ and their share of dK, dV
for every key; the dQ kernel walks the forward's tables; the dK/dV kernel adds the other rows' share (the global key
blocks' partial sums, one slot per item, are added afterwards: deterministic). Tiles are autotuned per shape
(``tiles``); the dK/dV kernel adds into DK, DV in place, which its autotuner restores before each timed run.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genoattn.attention.dense_flash import EdgeRows
from genoattn.attention.kernels import tiles
from genoattn.attention.kernels.band_launch import output_delta
from genoattn.attention.kernels.block_tables import BlockTables, bigbird_tables
from genoattn.attention.kernels.interpreter import patch_interpreter_index
from genoattn.attention.kernels.launch import INTERPRET, TUNE, launch, run_kernel, tile_configs
from genoattn.attention.patterns import BigBird

_kernels: dict = {}


def _fitting(configs: list, named_args: dict, **kwargs) -> list:
    """``prune_configs_by`` hook: the configurations whose tiles divide the block ``BS``."""
    return tiles.fitting_tiles(configs, kwargs["BS"], TUNE)


def autotuned() -> dict:
    """The three kernels wrapped in ``triton.autotune`` (made once): "fwd", "dq", "dkdv"."""
    if _kernels:
        return _kernels
    import triton

    from genoattn.attention.kernels import block_table_triton as kt

    patch_interpreter_index()
    key = ["L", "HEAD_DIM", "BS"]
    prune = {"early_config_prune": _fitting}

    def tuned(table, kernel, **hooks):
        configs = tile_configs(tiles.block_table_rows(table, INTERPRET))
        return triton.autotune(configs, key=key, prune_configs_by=prune, **hooks)(kernel)

    _kernels["fwd"] = tuned(tiles.BLOCK_TABLE_FORWARD, kt.block_table_fwd_kernel)
    _kernels["dq"] = tuned(tiles.BLOCK_TABLE_DQ, kt.block_table_dq_kernel)
    _kernels["dkdv"] = tuned(tiles.BLOCK_TABLE_DKDV, kt.block_table_dkdv_kernel, restore_value=["DK", "DV"])
    return _kernels


def _launch(name: str, q: Tensor, block: int, programs: int, tile: str, args: tuple,
            blocks: tuple[int, int] | None) -> None:
    """Run kernel ``name`` over (programs * block // tile, B * H); ``blocks`` fixes (BLOCK_M, BLOCK_N) (tests),
    else autotuned."""
    batch, heads, length, head_dim = q.shape
    kwargs = {"HEAD_DIM": head_dim, "BS": block}

    def grid(meta: dict) -> tuple[int, int]:
        return (programs * block // meta[tile], batch * heads)

    fixed = None if blocks is None else {"BLOCK_M": blocks[0], "BLOCK_N": blocks[1]}
    launch(autotuned()[name], (name, tuple(q.shape), q.dtype, block), grid, args, kwargs, fixed)


def block_table_forward(q: Tensor, k: Tensor, v: Tensor, tables: BlockTables, block: int,
                        blocks: tuple[int, int] | None = None) -> tuple[Tensor, Tensor, tuple]:
    """(out [B, H, L, D], lse [B, H, L] float32 natural log, the global rows' flash state) of attention over
    ``tables`` with global first and last blocks of ``block`` rows; ``blocks`` fixes the kernel's (BLOCK_M, BLOCK_N)."""
    batch, heads, length, head_dim = q.shape
    scale = 1.0 / math.sqrt(head_dim)
    out = torch.empty(q.shape, device=q.device, dtype=q.dtype)
    lse = torch.empty(batch, heads, length, device=q.device, dtype=torch.float32)
    args = (q, k, v, out, lse, tables.cols, tables.counts, *q.stride()[:3], *k.stride()[:3], *v.stride()[:3],
            *out.stride()[:3], tables.cols.stride(0), heads, length, 1, tables.cols.shape[-1], scale)
    _launch("fwd", q, block, length // block - 2, "BLOCK_M", args, blocks)
    edges = EdgeRows(length, block)
    out_chunks, lse_chunks, state = edges.per_chunk(q, k, v, scale)  # merged into out, lse by one kernel
    from genoattn.attention.kernels.block_table_triton import edge_rows_merge_kernel

    run_kernel(edge_rows_merge_kernel, (-(-2 * block // 32), batch * heads),
               (out_chunks.contiguous(), lse_chunks.contiguous(), out, lse, *out.stride()[:3], heads, length,
                edges.chunks, block),
               {"HEAD_DIM": head_dim, "BLOCK": 32})
    return out, lse, state


def block_table_backward(grad: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                         tables: BlockTables, block: int, state: tuple | None = None,
                         blocks: tuple[tuple[int, int], tuple[int, int]] | None = None
                         ) -> tuple[Tensor, Tensor, Tensor]:
    """(dq, dk, dv) of ``block_table_forward``; ``state``: the forward's flash state of the global rows (None: made
    again by their flash forward, on CUDA; the CPU flash backward needs none); ``blocks`` fixes (BLOCK_M, BLOCK_N)
    of the dK/dV and the dQ kernel."""
    batch, heads, length, head_dim = q.shape
    scale = 1.0 / math.sqrt(head_dim)
    grad = grad.contiguous()
    edges = EdgeRows(length, block)
    if state is None:
        state = edges.per_chunk(q, k, v, scale)[2] if q.is_cuda else ()
    delta = output_delta(out, grad)  # rowsum(dO * O)
    dq_edge, dk, dv = edges.backward(grad, q, k, v, out, lse, state, scale)  # dk, dv: contiguous [B, H, L, D]
    dkdv_blocks, dq_blocks = blocks if blocks is not None else (None, None)
    dq = torch.empty(q.shape, device=q.device, dtype=q.dtype)
    strides = (*q.stride()[:3], *k.stride()[:3], *v.stride()[:3], *grad.stride()[:3])
    _launch("dq", q, block, length // block - 2, "BLOCK_M",
            (q, k, v, grad, dq, lse, delta, tables.cols, tables.counts, *strides, *dq.stride()[:3],
             tables.cols.stride(0), heads, length, 1, tables.cols.shape[-1], scale), dq_blocks)
    edges.put(dq, dq_edge)
    partial = torch.empty(2, 2 * tables.slots, batch, heads, block, head_dim, device=q.device)  # dK, dV sums
    items = tables.item_kb.shape[1]
    _launch("dkdv", q, block, items, "BLOCK_N",
            (q, k, v, grad, dk, dv, partial[0], partial[1], lse, delta, tables.item_kb, tables.item_slot,
             tables.item_count, tables.item_rows, *strides, tables.item_kb.stride(0), batch, heads, length, items,
             tables.item_rows.shape[-1], scale), dkdv_blocks)
    sums = partial.view(2, 2, tables.slots, batch, heads, block, head_dim).sum(2)  # [dK/dV, global block, B, H, b, D]
    for grads, part in ((dk, sums[0]), (dv, sums[1])):
        edges.put(grads, edges.take(grads) + torch.cat([part[0], part[1]], 2))
    return dq, dk.to(k.dtype), dv.to(v.dtype)


def bigbird_forward(q: Tensor, k: Tensor, v: Tensor, pattern: BigBird,
                    blocks: tuple[int, int] | None = None) -> tuple[Tensor, Tensor, tuple]:
    """``block_table_forward`` with ``pattern``'s tables."""
    tables = bigbird_tables(pattern, q.shape[2], q.shape[1], q.device)
    return block_table_forward(q, k, v, tables, pattern.block_size, blocks)


def bigbird_backward(grad: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, pattern: BigBird,
                     state: tuple | None = None, blocks: tuple[tuple[int, int], tuple[int, int]] | None = None
                     ) -> tuple[Tensor, Tensor, Tensor]:
    """``block_table_backward`` with ``pattern``'s tables."""
    tables = bigbird_tables(pattern, q.shape[2], q.shape[1], q.device)
    return block_table_backward(grad, q, k, v, out, lse, tables, pattern.block_size, state, blocks)
