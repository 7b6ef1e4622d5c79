"""The Triton backends' host entry points as PyTorch custom ops (``torch.library.custom_op``), so that
``torch.compile`` can trace a model that uses them: each op has a fake implementation (output shapes, dtypes and
strides without running a kernel) and its gradient registered with ``register_autograd``.

- ``genoattn::band_attention(q, k, v, bands, alibi_slopes, token_positions, tokens_causal) -> (out, lse, row_lse)``
  and its backward ``genoattn::band_attention_backward``: ``bands_to_ints`` packs the bands (five ints each);
  ``token_positions`` int32 [G] (Longformer's global tokens) or None; ``row_lse`` is [B * H, G] (empty without
  global tokens). See ``band_launch``.
- ``genoattn::block_table_attention(q, k, v, cols, counts, item_kb, item_slot, item_count, item_rows, block, slots)
  -> (out, lse)`` and its backward (BigBird; ``block_tables.BlockTables`` as tensors). The backward recomputes the
  global rows' flash state on CUDA (it does not cross the op boundary). See ``block_table_launch``.

The ops take and return tensors only; what they cache (autotuned tiles, compiled kernels) lives in the launchers.
"""

from __future__ import annotations

from dataclasses import astuple

import torch
from torch import Tensor

from genoattn.attention.kernels import band_launch, block_table_launch
from genoattn.attention.kernels.band import GlobalTokens
from genoattn.attention.kernels.block_tables import BlockTables
from genoattn.attention.patterns.band import Band

BAND_INTS = 5  # ints per band in the ops' ``bands`` list: dilation, left, right, kernel_size, hole


def bands_to_ints(bands: Band | tuple[Band, ...]) -> list[int]:
    """The ops' encoding of one or several bands: their fields, five ints per band."""
    return [int(value) for band in band_launch.as_bands(bands) for value in astuple(band)]


def ints_to_bands(values: list[int]) -> tuple[Band, ...]:
    return tuple(Band(*values[i:i + BAND_INTS]) for i in range(0, len(values), BAND_INTS))


def _tokens(positions: Tensor | None, causal: bool) -> GlobalTokens | None:
    return None if positions is None else GlobalTokens(positions, causal)


def _row_lse_like(q: Tensor, positions: Tensor | None) -> Tensor:
    """An empty [B * H, G] float32 tensor: the global rows' log-sum-exp (shape [0] without global tokens)."""
    count = 0 if positions is None else positions.numel()
    if not count:
        return q.new_empty(0, dtype=torch.float32)
    return q.new_empty(q.shape[0] * q.shape[1], count, dtype=torch.float32)


@torch.library.custom_op("genoattn::band_attention", mutates_args=())
def band_attention(q: Tensor, k: Tensor, v: Tensor, bands: list[int], alibi_slopes: Tensor | None,
                   token_positions: Tensor | None, tokens_causal: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(out [B, H, L, D], lse [B, H, L] float32 base 2, row_lse) of ``band_launch.band_forward``."""
    out, lse, row_lse = band_launch.band_forward(q, k, v, ints_to_bands(bands), alibi_slopes,
                                                 tokens=_tokens(token_positions, tokens_causal))
    return out, lse, _row_lse_like(q, None) if row_lse is None else row_lse


@band_attention.register_fake
def _band_attention_fake(q, k, v, bands, alibi_slopes, token_positions, tokens_causal):
    lse = q.new_empty(q.shape[:3], dtype=torch.float32)
    return torch.empty_like(q), lse, _row_lse_like(q, token_positions)


@torch.library.custom_op("genoattn::band_attention_backward", mutates_args=())
def band_attention_backward(grad_out: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                            row_lse: Tensor, bands: list[int], alibi_slopes: Tensor | None,
                            token_positions: Tensor | None, tokens_causal: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(dq, dk, dv) of ``band_attention`` (``band_launch.band_backward``)."""
    tokens = _tokens(token_positions, tokens_causal)
    return band_launch.band_backward(grad_out, q, k, v, out, lse, ints_to_bands(bands), alibi_slopes, tokens=tokens,
                                     row_lse=row_lse if tokens is not None else None)


@band_attention_backward.register_fake
def _band_attention_backward_fake(grad_out, q, k, v, out, lse, row_lse, bands, alibi_slopes, token_positions,
                                  tokens_causal):
    return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)


def _band_setup_context(ctx, inputs: tuple, output: tuple) -> None:
    q, k, v, bands, alibi_slopes, token_positions, tokens_causal = inputs
    out, lse, row_lse = output
    ctx.mark_non_differentiable(lse, row_lse)
    ctx.save_for_backward(q, k, v, out, lse, row_lse, alibi_slopes, token_positions)
    ctx.bands, ctx.tokens_causal = bands, tokens_causal


def _band_backward(ctx, grad_out: Tensor, grad_lse: Tensor | None, grad_row_lse: Tensor | None) -> tuple:
    q, k, v, out, lse, row_lse, alibi_slopes, token_positions = ctx.saved_tensors
    dq, dk, dv = band_attention_backward(grad_out, q, k, v, out, lse, row_lse, ctx.bands, alibi_slopes,
                                         token_positions, ctx.tokens_causal)
    return dq, dk, dv, None, None, None, None


band_attention.register_autograd(_band_backward, setup_context=_band_setup_context)


def table_tensors(tables: BlockTables) -> tuple[Tensor, ...]:
    """The ops' encoding of block tables: cols, counts, item_kb, item_slot, item_count, item_rows (then ``slots``)."""
    return tables.cols, tables.counts, tables.item_kb, tables.item_slot, tables.item_count, tables.item_rows


@torch.library.custom_op("genoattn::block_table_attention", mutates_args=())
def block_table_attention(q: Tensor, k: Tensor, v: Tensor, cols: Tensor, counts: Tensor, item_kb: Tensor,
                          item_slot: Tensor, item_count: Tensor, item_rows: Tensor, block: int,
                          slots: int) -> tuple[Tensor, Tensor]:
    """(out [B, H, L, D], lse [B, H, L] float32) of ``block_table_launch.block_table_forward``."""
    tables = BlockTables(cols, counts, item_kb, item_slot, item_count, item_rows, slots)
    out, lse, _ = block_table_launch.block_table_forward(q, k, v, tables, block)
    return out, lse


@block_table_attention.register_fake
def _block_table_attention_fake(q, k, v, cols, counts, item_kb, item_slot, item_count, item_rows, block, slots):
    return q.new_empty(q.shape), q.new_empty(q.shape[:3], dtype=torch.float32)


@torch.library.custom_op("genoattn::block_table_attention_backward", mutates_args=())
def block_table_attention_backward(grad_out: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                                   cols: Tensor, counts: Tensor, item_kb: Tensor, item_slot: Tensor,
                                   item_count: Tensor, item_rows: Tensor, block: int,
                                   slots: int) -> tuple[Tensor, Tensor, Tensor]:
    """(dq, dk, dv) of ``block_table_attention`` (``block_table_launch.block_table_backward``)."""
    tables = BlockTables(cols, counts, item_kb, item_slot, item_count, item_rows, slots)
    return block_table_launch.block_table_backward(grad_out, q, k, v, out, lse, tables, block)


@block_table_attention_backward.register_fake
def _block_table_attention_backward_fake(grad_out, q, k, v, out, lse, cols, counts, item_kb, item_slot, item_count,
                                         item_rows, block, slots):
    return q.new_empty(q.shape), k.new_empty(k.shape), v.new_empty(v.shape)


def _block_table_setup_context(ctx, inputs: tuple, output: tuple) -> None:
    q, k, v, *tables, block, slots = inputs
    out, lse = output
    ctx.mark_non_differentiable(lse)
    ctx.save_for_backward(q, k, v, out, lse, *tables)
    ctx.block, ctx.slots = block, slots


def _block_table_backward(ctx, grad_out: Tensor, grad_lse: Tensor | None) -> tuple:
    q, k, v, out, lse, *tables = ctx.saved_tensors
    dq, dk, dv = block_table_attention_backward(grad_out, q, k, v, out, lse, *tables, ctx.block, ctx.slots)
    return dq, dk, dv, *([None] * 8)


block_table_attention.register_autograd(_block_table_backward, setup_context=_block_table_setup_context)
