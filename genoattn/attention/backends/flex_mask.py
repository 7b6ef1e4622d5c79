"""FlexAttention BlockMasks built from analytic block layouts, never from an L x L mask.

A ``BlockLayout`` lists, per query block, the key blocks it touches and which of them are fully visible.
``block_mask_from_layout`` splits those into partial blocks (the kernel evaluates ``mask_mod`` there) and full
blocks (it does not), and computes the q-side (transposed) indices the backward pass needs by sorting the
O(nnz) list of block pairs, so no NQ x NK tensor is ever made.

Index width: FlexAttention reads only the first ``num_blocks`` entries of each row, but where a row starts
depends on the torch version. The GPU templates of torch 2.13 (read, not run here) address rows by the tensors'
strides, so rows can stay as narrow as the widest row (``narrow=True``; a 1M-token sliding window then
needs well under 1 MiB of indices). Torch 2.11 (the GPU machine; narrow indices gave wrong results there,
benchmarks/attention/README.md, "Other findings") and the CPU kernel (which asserts it) take the row length
from the sequence length, so there every index tensor is padded to one column per block: 4 x NQ x NK int32
per head layout (1 GiB at 1M tokens with 128-blocks). The default is the padded form; set GENOATTN_FLEX_NARROW=1
(or pass ``narrow=True``) on a torch that addresses by stride.
Building stays O(nnz): the narrow tensors are made on the CPU and only padded on the target device.
"""

from __future__ import annotations

import types

import torch
from torch import Tensor
from torch.nn.attention.flex_attention import BlockMask, noop_mask

from genoattn.attention.patterns.base import BlockLayout, MaskMod
from genoattn.settings import current_settings


def compact_rows(indices: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
    """Move the kept entries of each row to the front, in their original order.

    indices: int [..., K]; keep: bool [..., K]. Returns counts int32 [...] and indices int32 [..., K'] with
    K' = max count (at least 1); padding holds 0.
    """
    counts = keep.sum(-1)  # [...]
    width = max(int(counts.max()) if counts.numel() else 0, 1)
    if indices.shape[-1] == 0:
        return counts.to(torch.int32), torch.zeros(*indices.shape[:-1], 1, dtype=torch.int32, device=indices.device)
    # Stable sort on "not kept" keeps the kept entries first and in order.
    order = torch.sort((~keep).to(torch.int8), dim=-1, stable=True).indices[..., :width]
    picked = torch.gather(indices.long(), -1, order)  # [..., K']
    valid = torch.arange(width, device=indices.device) < counts.unsqueeze(-1)
    return counts.to(torch.int32), torch.where(valid, picked, 0).to(torch.int32)


def transpose_blocks(counts: Tensor, indices: Tensor, num_cols: int) -> tuple[Tensor, Tensor]:
    """Transpose a row-compressed block list: for each column, the rows that name it (ascending).

    counts: int [H, R]; indices: int [H, R, K] (valid in the first ``counts`` columns). Returns
    counts int32 [H, num_cols] and indices int32 [H, num_cols, K'] (K' = widest column, at least 1).
    Cost O(nnz log nnz) time and O(nnz) memory.
    """
    hp, rows, k = indices.shape
    device = indices.device
    valid = torch.arange(k, device=device) < counts.unsqueeze(-1)  # [H, R, K]
    hh, rr, kk = torch.nonzero(valid, as_tuple=True)  # [nnz]
    cols = indices[hh, rr, kk].long()
    group = hh * num_cols + cols  # which output row (head, column) each pair lands in
    # Sort by (group, row); rows come out ascending within a group.
    order = torch.argsort(group * rows + rr)
    group, rr = group[order], rr[order]
    t_counts = torch.bincount(group, minlength=hp * num_cols)  # [H * C]
    width = max(int(t_counts.max()) if t_counts.numel() else 0, 1)
    starts = torch.cumsum(t_counts, 0) - t_counts  # first pair of each group
    rank = torch.arange(group.numel(), device=device) - starts[group]
    out = torch.zeros(hp * num_cols, width, dtype=torch.int32, device=device)
    out[group, rank] = rr.to(torch.int32)
    return t_counts.view(hp, num_cols).to(torch.int32), out.view(hp, num_cols, width)


def pad_columns(indices: Tensor, width: int) -> Tensor:
    """Zero-pad the last dimension of ``indices`` to ``width`` columns."""
    extra = width - indices.shape[-1]
    if extra <= 0:
        return indices
    return torch.nn.functional.pad(indices, (0, extra))


def default_narrow() -> bool:
    """Narrow index tensors only when the setting ``flex_narrow`` asks (GENOATTN_FLEX_NARROW=1; see the module
    docstring)."""
    return current_settings().flex_narrow


def block_mask_from_layout(
    layout: BlockLayout,
    mask_mod: MaskMod | None,
    device: torch.device | str,
    narrow: bool | None = None,
    q_length: int | None = None,
) -> BlockMask:
    """A BlockMask (batch dimension 1) for ``layout``; ``mask_mod`` runs only on partial blocks.

    ``mask_mod=None`` means every touched block is treated as fully visible (no mask evaluation), which is
    right when the layout's blocks are exact (e.g. BigBird with block_size equal to the kernel block).
    ``narrow`` defaults to ``default_narrow()`` (see the module docstring); the index tensors are built narrow
    on the CPU and padded on ``device``. ``q_length`` defaults to the layout length.
    """
    device = torch.device(device)
    if narrow is None:
        narrow = default_narrow()
    length, bs = layout.length, layout.block_size
    q_length = length if q_length is None else q_length
    nk = layout.num_blocks
    idx, cnt, full = layout.indices, layout.counts, layout.full  # [H', NQ, K], [H', NQ], [H', NQ, K]
    valid = torch.arange(idx.shape[-1]) < cnt.unsqueeze(-1)
    if mask_mod is None:
        full = valid
    part_cnt, part_idx = compact_rows(idx, valid & ~full)
    full_cnt, full_idx = compact_rows(idx, valid & full)
    qp_cnt, qp_idx = transpose_blocks(part_cnt, part_idx, nk)
    qf_cnt, qf_idx = transpose_blocks(full_cnt, full_idx, nk)
    nq = part_idx.shape[1]

    def put(t: Tensor, width: int | None = None) -> Tensor:
        t = t.unsqueeze(0).to(device)  # add the batch dimension: [1, H', ...]
        if width is not None and not narrow:
            t = pad_columns(t, width)  # one column per block (padded on the device)
        return t.contiguous()

    return BlockMask(
        seq_lengths=(q_length, length),
        kv_num_blocks=put(part_cnt),
        kv_indices=put(part_idx, nk),
        full_kv_num_blocks=put(full_cnt),
        full_kv_indices=put(full_idx, nk),
        q_num_blocks=put(qp_cnt),
        q_indices=put(qp_idx, nq),
        full_q_num_blocks=put(qf_cnt),
        full_q_indices=put(qf_idx, nq),
        BLOCK_SIZE=(bs, bs),
        mask_mod=mask_mod if mask_mod is not None else noop_mask,
    )


def block_mask_nbytes(block_mask: BlockMask) -> int:
    """Bytes held by the index tensors of ``block_mask``."""
    total = 0
    for name in ("kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices", "q_num_blocks",
                 "q_indices", "full_q_num_blocks", "full_q_indices"):
        t = getattr(block_mask, name, None)
        if t is not None:
            total += t.numel() * t.element_size()
    return total


def mask_mod_on(fn: MaskMod, device: torch.device | str) -> MaskMod:
    """A copy of ``fn`` whose captured tensors live on ``device``.

    Patterns build the tensors their mask_mod closes over (per-head dilations, random blocks, global flags) on
    the CPU; the GPU kernel needs them on the GPU. Nested closures are handled; ``fn`` itself is returned when
    nothing needs moving.
    """
    device = torch.device(device)
    if not isinstance(fn, types.FunctionType) or not fn.__closure__:
        return fn
    cells, changed = [], False
    for cell in fn.__closure__:
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            cells.append(cell)
            continue
        if isinstance(value, torch.Tensor) and value.device != device:
            value, changed = value.to(device), True
        elif isinstance(value, types.FunctionType):
            moved = mask_mod_on(value, device)
            value, changed = moved, changed or moved is not value
        cells.append(types.CellType(value))
    if not changed:
        return fn
    return types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, tuple(cells))
