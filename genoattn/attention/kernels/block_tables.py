"""BigBird's block tables for the block-table kernels (``block_table_triton``): for rows 1..nb-2, the key blocks each
query block sees (window, the two global blocks, its random blocks; ascending), and the dK/dV kernel's items (each
non-global key block with the rows that see it; the two global key blocks, which every row sees, split over
``slots`` partial-sum items each). Made once per (pattern, length, heads, device), int32 on the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

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


def _row_tables(pattern: BigBird, length: int, heads: int) -> tuple[Tensor, Tensor]:
    """Rows 1..nb-2's key blocks [H, nb - 2, 5 + r] (``BigBird.row_key_blocks``: window, globals, random; ascending,
    here padded with 0) and their counts [H, nb - 2]."""
    nb = length // pattern.block_size
    keys = pattern.row_key_blocks(length, heads).expand(heads, nb, -1)[:, 1:-1]  # padded with nb
    return torch.where(keys < nb, keys, 0), (keys < nb).sum(-1)


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

    def on_device(table: Tensor) -> Tensor:
        return table.to(device=device, dtype=torch.int32).contiguous()

    return BlockTables(
        cols=on_device(cols), counts=on_device(counts), item_kb=on_device(per_head(item_kb)),
        item_slot=on_device(per_head(item_slot)),
        item_count=on_device(torch.cat([local_count, per_head(global_count)], 1)),
        item_rows=on_device(torch.cat([pad(local_rows), per_head(pad(global_rows))], 1)), slots=slots)
