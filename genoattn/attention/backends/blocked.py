"""Blocked backend: pure PyTorch block-sparse attention from a pattern's ``block_layout``.

Each query block of ``bs`` positions gathers the key blocks its layout row names and runs a masked softmax over
them (``scaled_dot_product_attention`` with an additive bias: 0 where visible, -inf elsewhere, minus the ALiBi
distance term when slopes are given). Memory is O(L * K * bs) for K key blocks per row; autograd works on any
device and dtype (float64 included), which makes this the CPU training path (FlexAttention has no CPU backward).

Rows whose layouts differ a lot in width (e.g. Longformer's global query blocks, which see everything) are split
into a narrow and a wide group, so that a few wide rows do not make every row wide. What a call gathers (layout, gather
indices, masks) depends only on (pattern, length, heads, block size) and is cached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

from genoattn.attention.patterns.base import Pattern, from_residue_classes, to_residue_classes

# Candidate block sizes; ``choose_block_size`` keeps the one with the least estimated work.
BLOCK_SIZES: tuple[int, ...] = (16, 32, 64, 128)
# Per key-block overhead of a gathered block, in query-key pairs (gather, bias, kernel tiling); measured on CPU.
BLOCK_OVERHEAD_PAIRS = 300


@dataclass
class _Group:
    """Layout rows processed together. Rows are query blocks (shared gathers) or head * NQ + query block."""

    rows: Tensor | None  # int64 [n], None = every row in order
    keys: Tensor  # int64 [n, K] key-row ids to gather (head * NB + key block in per-head gathers)
    heads: Tensor  # int64 [n] head of each row (0 in shared gathers)
    mask: Tensor  # bool [n, bs, K * bs] visible pairs (padded query rows see everything)
    q_pos: Tensor  # int64 [n, bs] query positions (>= L on padding)
    k_pos: Tensor  # int64 [n, K * bs] gathered key positions
    cache: dict = field(default_factory=dict)

    def distance(self, dtype: torch.dtype, device: torch.device) -> Tensor:
        """float [n, bs, K * bs]: abs(i - j), for ALiBi (built on first use)."""
        key = ("distance", dtype, device)
        if key not in self.cache:
            q_pos, k_pos = self.q_pos.to(device), self.k_pos.to(device)
            self.cache[key] = (q_pos.unsqueeze(-1) - k_pos.unsqueeze(-2)).abs().to(dtype)
        return self.cache[key]

    def bias(self, dtype: torch.dtype, device: torch.device) -> Tensor:
        """float [n, bs, K * bs]: 0 where visible, -inf elsewhere."""
        key = ("bias", dtype, device)
        if key not in self.cache:
            zero = torch.zeros((), dtype=dtype, device=device)
            self.cache[key] = torch.where(self.mask.to(device), zero, float("-inf"))
        return self.cache[key]

    def on(self, name: str, device: torch.device) -> Tensor:
        """An index tensor of the group on ``device`` (cached)."""
        key = (name, device)
        if key not in self.cache:
            self.cache[key] = getattr(self, name).to(device)
        return self.cache[key]


@dataclass
class _Gathers:
    """Everything one attention call gathers, per (pattern, length, heads, block size): row groups and order."""

    block_size: int
    num_blocks: int
    per_head: bool
    groups: list[_Group]
    inverse: Tensor | None  # int64 [rows]: position of each row in the concatenated group outputs
    cache: dict = field(default_factory=dict)

    def inverse_on(self, device: torch.device) -> Tensor:
        if device not in self.cache:
            assert self.inverse is not None, "asked only when rows are split in several groups"
            self.cache[device] = self.inverse.to(device)
        return self.cache[device]


def _split_rows(counts: Tensor) -> list[Tensor]:
    """Row ids in one or two groups (by width) minimising sum(rows * widest row) of each group.

    Two groups only when that saves at least a quarter of the work (a second kernel call costs time too).
    """
    total = counts.numel()
    widest = int(counts.max())
    best_cost, best_cut = 0.75 * total * widest, widest
    for cut in torch.unique(counts).tolist():
        narrow = int((counts <= cut).sum())
        cost = narrow * cut + (total - narrow) * widest
        if cost < best_cost:
            best_cost, best_cut = cost, cut
    rows = torch.arange(total)
    is_narrow = counts <= best_cut
    return [rows[is_narrow], rows[~is_narrow]] if best_cut < widest else [rows]


def _group_cost(counts: Tensor) -> tuple[int, int]:
    """(key blocks gathered, rows) after the split of ``_split_rows``."""
    blocks = sum(len(g) * int(counts[g].max()) for g in _split_rows(counts) if len(g))
    return blocks, counts.numel()


@lru_cache(maxsize=64)
def _layout(pattern: Pattern, length: int, block_size: int, num_heads: int):
    return pattern.block_layout(length, block_size, num_heads)


def choose_block_size(pattern: Pattern, length: int, num_heads: int) -> int:
    """Block size of BLOCK_SIZES with the least estimated work: computed pairs + per-block overhead."""
    return _estimate(pattern, length, num_heads)[0]


@lru_cache(maxsize=256)
def _estimate(pattern: Pattern, length: int, num_heads: int) -> tuple[int, int]:
    """(best block size, its estimated work in query-key pairs per batch entry and layout head)."""
    costs: dict[int, int] = {}
    for bs in BLOCK_SIZES:
        if bs > 2 * length and bs != BLOCK_SIZES[0]:
            break
        layout = _layout(pattern, length, bs, num_heads)
        blocks, _ = _group_cost(layout.counts.flatten().long())
        costs[bs] = blocks * (bs * bs + BLOCK_OVERHEAD_PAIRS)
    best = min(costs, key=costs.__getitem__)  # the first of equal costs, as the smaller block size
    return best, costs[best]


@lru_cache(maxsize=16)
def _gathers(pattern: Pattern, length: int, num_heads: int, block_size: int, per_head: bool) -> _Gathers:
    layout = _layout(pattern, length, block_size, num_heads)
    bs, nb = block_size, layout.num_blocks
    indices, counts = layout.indices.long(), layout.counts.long()  # [H', NQ, K], [H', NQ]
    if per_head:  # one row per (head, query block); key rows are head * NB + key block
        indices = indices.expand(num_heads, -1, -1) + torch.arange(num_heads).view(-1, 1, 1) * nb
        counts = counts.expand(num_heads, -1)
    elif indices.shape[0] != 1:
        raise AssertionError("shared gathers need a layout shared by every head")
    indices = indices.reshape(-1, indices.shape[-1])  # [rows, K]
    counts = counts.reshape(-1)  # [rows]
    mask_mod = pattern.mask_mod_for(length, num_heads)
    offsets = torch.arange(bs)
    groups = []
    row_groups = _split_rows(counts)
    for rows in row_groups:
        width = int(counts[rows].max())
        keys = indices[rows, :width]  # [n, K]
        heads = rows // nb if per_head else torch.zeros_like(rows)
        q_pos = ((rows % nb) * bs).view(-1, 1) + offsets  # [n, bs]
        k_pos = (((keys % nb) * bs).unsqueeze(-1) + offsets).flatten(1)  # [n, K * bs]
        valid = (torch.arange(width) < counts[rows].view(-1, 1)).repeat_interleave(bs, dim=1) & (k_pos < length)
        last = length - 1
        mask = mask_mod(
            torch.zeros((), dtype=torch.long),
            heads.view(-1, 1, 1),
            torch.clamp(q_pos, max=last).unsqueeze(-1),
            torch.clamp(k_pos, max=last).unsqueeze(-2),
        )  # [n, bs, K * bs]
        mask = (mask & valid.unsqueeze(1)) | (q_pos >= length).unsqueeze(-1)
        in_order = len(row_groups) == 1
        groups.append(_Group(None if in_order else rows, keys, heads, mask, q_pos, k_pos))
    inverse = None
    if len(row_groups) > 1:
        inverse = torch.argsort(torch.cat(row_groups))
    return _Gathers(bs, nb, per_head, groups, inverse)


class BlockedBackend:
    """Block-sparse attention in plain PyTorch.

    ``block_size=None`` picks one per shape (cached). ``residue`` says whether dilated patterns run per residue
    class: None decides by estimated work, True/False force it (for tests and measurements).
    """

    name = "blocked"

    def __init__(self, block_size: int | None = None, residue: bool | None = None) -> None:
        self.block_size = block_size
        self.residue = residue

    def can_run(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None
    ) -> str | None:
        for method in ("block_layout", "mask_mod_for"):
            if not hasattr(pattern, method):
                return f"{type(pattern).__name__} has no {method}"
        if not q.dtype.is_floating_point:
            return f"needs floating-point q, k, v, got {q.dtype}"
        if alibi_slopes is not None and alibi_slopes.shape != (q.shape[1],):
            return f"alibi_slopes must be [heads={q.shape[1]}], got {tuple(alibi_slopes.shape)}"
        return None

    def attend(self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None) -> Tensor:
        split = pattern.residue_split()  # running per residue class wastes no compute on the skipped positions
        use = self.residue if self.residue is not None else split and _residue_pays(pattern, q.shape[2], q.shape[1])
        if split is not None and use:
            return self._attend_residue(q, k, v, pattern, *split, alibi_slopes)
        return self._attend_blocks(q, k, v, pattern, alibi_slopes)

    def _attend_residue(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, dilation: int, inner: Pattern,
        alibi_slopes: Tensor | None
    ) -> Tensor:
        """Attend within each residue class as extra batch entries; classes g < L % d are one longer."""
        b, length = q.shape[0], q.shape[2]
        pattern.check_length(length)
        (qr, lengths), (kr, _), (vr, _) = (to_residue_classes(x, dilation) for x in (q, k, v))  # [d * B, H, Lmax, D]
        lmax = int(lengths[0])
        n_long = int((lengths == lmax).sum())  # classes of full length Lmax come first
        slopes = None if alibi_slopes is None else alibi_slopes * dilation  # |i - j| = d * |ci - cj|
        outs = [self._attend_blocks(qr[: n_long * b], kr[: n_long * b], vr[: n_long * b], inner, slopes)]
        if n_long < dilation:
            short = slice(n_long * b, None)
            if lmax > 1:
                part = self._attend_blocks(qr[short, :, :-1], kr[short, :, :-1], vr[short, :, :-1], inner, slopes)
                outs.append(F.pad(part, (0, 0, 0, 1)))  # back to Lmax; the pad is dropped below
            else:
                outs.append(torch.zeros_like(qr[short]))
        return from_residue_classes(torch.cat(outs, dim=0), dilation, length)  # [B, H, L, D]

    def _attend_blocks(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None
    ) -> Tensor:
        b, h, length, d = q.shape
        bs = self.block_size or choose_block_size(pattern, length, h)
        per_head = alibi_slopes is not None or _layout(pattern, length, bs, h).indices.shape[0] > 1
        gathers = _gathers(pattern, length, h, bs, per_head)
        nb = gathers.num_blocks
        pad = nb * bs - length
        if pad:
            q, k, v = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v))  # [B, H, NB * bs, D]
        if per_head:
            shape = (b, h * nb, bs, d)  # rows are head * NB + block
        else:
            shape = (b * h, nb, bs, d)  # rows are blocks; batch and heads share the gathers
        q, k, v = (x.reshape(shape) for x in (q, k, v))
        outs = []
        for group in gathers.groups:
            n, width = group.keys.shape
            keys = group.on("keys", q.device).flatten()
            q_g = q if group.rows is None else q.index_select(1, group.on("rows", q.device))  # [R, n, bs, D]
            k_g = k.index_select(1, keys).view(shape[0], n, width * bs, d)  # [R, n, K * bs, D]
            v_g = v.index_select(1, keys).view(shape[0], n, width * bs, d)
            bias = group.bias(q.dtype, q.device)  # [n, bs, K * bs]
            if alibi_slopes is not None:
                slopes = alibi_slopes.to(q.dtype)[group.on("heads", q.device)].view(n, 1, 1)
                bias = bias - slopes * group.distance(q.dtype, q.device)
            outs.append(F.scaled_dot_product_attention(q_g, k_g, v_g, attn_mask=bias.unsqueeze(0)))
        out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=1).index_select(1, gathers.inverse_on(q.device))
        return out.reshape(b, h, nb * bs, d)[:, :, :length]  # [B, H, L, D]


@lru_cache(maxsize=256)
def _residue_pays(pattern: Pattern, length: int, num_heads: int) -> bool:
    """True when the residue-class split is estimated at least 25% cheaper than the plain layout."""
    split = pattern.residue_split()
    assert split is not None, "asked only of patterns with a residue split"
    dilation, inner = split
    _, plain = _estimate(pattern, length, num_heads)
    _, per_class = _estimate(inner, -(-length // dilation), num_heads)
    return 1.25 * dilation * per_class < plain


backend = BlockedBackend()
