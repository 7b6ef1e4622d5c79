"""The contract every attention pattern follows (see docs/design.md, section 2.2 "The pattern contract").

A pattern is a frozen dataclass and the one home of what is known about it. It gives three views of one boolean
"query i may see key j" relation:

- ``mask_mod(b, h, q_idx, kv_idx)``: FlexAttention's mask function; pure tensor ops, broadcastable.
  Patterns whose mask depends on the sequence length (BigBird, Neighborhood, Longformer's
  globals given as negative indices) get the length through ``mask_mod_for(length, num_heads)``;
  ``mask_mod`` is only defined for patterns that do not need it.
- ``dense_mask(length, num_heads)``: bool ``[H or 1, L, L]``; the readable specification.
- ``block_layout(length, block_size, num_heads)``: which key blocks each query block touches,
  computed analytically in O(L * blocks-per-row) memory (never from an L x L mask).

and the facts the backends, the benchmarks and the inference engine ask for, each derived from its definition
(the tests check each against ``dense_mask`` at small L): ``visible_pairs`` (how many (i, j) are visible),
``layer_radius`` (how far one layer mixes), ``residue_split`` (the same pattern on each residue class),
``global_positions`` (rows and columns that see and are seen by everything) and ``local_bands`` (the rest as
runs of keys, the Triton band kernels' description).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import overload

import torch
from torch import Tensor

from genoattn.attention.patterns.band import Band
from genoattn.errors import InputError

MaskMod = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class BlockLayout:
    """Key blocks visited by each query block.

    Shapes (H' is 1 when every head shares the layout, else num_heads; NQ = ceil(L / block_size)):
      indices: int32 [H', NQ, K]  key-block ids, valid in the first ``counts`` columns of each row,
                                  ascending, padding columns hold 0
      counts:  int32 [H', NQ]     number of valid key blocks per query block
      full:    bool  [H', NQ, K]  True where every (i, j) in the block pair is visible, so a kernel
                                  may skip evaluating the mask there (False on padding)
    """

    length: int
    block_size: int
    indices: Tensor
    counts: Tensor
    full: Tensor

    @property
    def num_blocks(self) -> int:
        return -(-self.length // self.block_size)

    @classmethod
    def every_block(cls, key_length: int, block_size: int, query_blocks: int, full: bool) -> BlockLayout:
        """Every query block visits every key block of ``key_length`` keys; ``full`` marks them all full (or all
        partial, for a mask_mod to decide)."""
        nk = -(-key_length // block_size)
        return cls(
            length=key_length,
            block_size=block_size,
            indices=torch.arange(nk, dtype=torch.int32).expand(1, query_blocks, nk).contiguous(),
            counts=torch.full((1, query_blocks), nk, dtype=torch.int32),
            full=torch.full((1, query_blocks, nk), full, dtype=torch.bool),
        )

    def dense_blocks(self) -> Tensor:
        """bool [H', NQ, NK] block-level view (for tests and plots at small L)."""
        h, nq, k = self.indices.shape
        out = torch.zeros(h, nq, self.num_blocks, dtype=torch.bool)
        valid = torch.arange(k) < self.counts.unsqueeze(-1)  # [H', NQ, K]
        hh, qq, kk = torch.nonzero(valid, as_tuple=True)
        out[hh, qq, self.indices[hh, qq, kk].long()] = True
        return out


def check_positive(name: str, value: int, pattern: str, minimum: int = 1) -> None:
    """Raise InputError unless ``value`` is an int >= minimum."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InputError(f"{pattern}: {name} must be an integer >= {minimum}, got {value!r}")


def check_length(length: int, pattern: str) -> None:
    check_positive("length", length, pattern)


def positions(length: int, device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """Query and key index grids for dense masks: i [L, 1], j [1, L]."""
    idx = torch.arange(length, device=device)
    return idx[:, None], idx[None, :]


class Pattern:
    """Base class of every mask pattern (subclasses are frozen dataclasses).

    Subclasses implement ``mask_mod_for(length, num_heads)`` (or ``mask_mod``), ``dense_mask(length, num_heads)``,
    ``block_layout(length, block_size, num_heads)`` and ``visible_pairs(length, num_heads)``; ``causal`` is a
    field where the pattern allows it. ``mask_mod_for`` returns FlexAttention's ``mask_mod(b, h, q_idx, kv_idx)``
    for that length (patterns whose mask does not depend on the length may ignore it). The other facts have
    defaults that hold for a pattern without that structure (no bound on the reach, no residue split, no global
    tokens, no bands); a pattern that has it says so.
    """

    causal: bool = False

    def mask_mod_for(self, length: int, num_heads: int = 1) -> MaskMod:
        """The mask_mod for this length; patterns whose mask does not depend on it return ``self.mask_mod``."""
        mask_mod = getattr(self, "mask_mod", None)
        if mask_mod is None:
            raise NotImplementedError(f"{type(self).__name__} must define mask_mod or mask_mod_for")
        return mask_mod

    def dense_mask(self, length: int, num_heads: int = 1) -> Tensor:
        raise NotImplementedError

    def block_layout(self, length: int, block_size: int = 128, num_heads: int = 1) -> BlockLayout:
        raise NotImplementedError

    def check_length(self, length: int) -> None:
        """Raise InputError unless the pattern is defined at ``length``."""
        check_length(length, type(self).__name__)

    def visible_pairs(self, length: int, num_heads: int = 1) -> int:
        """Visible (i, j) pairs summed over ``num_heads`` heads, counted per row in O(L) memory (no L x L mask)."""
        raise NotImplementedError(f"{type(self).__name__} does not count its visible pairs")

    def layer_radius(self) -> int | None:
        """Tokens on each side that one layer mixes into a position (None: unbounded, every position may)."""
        return None

    def residue_split(self) -> tuple[int, Pattern] | None:
        """(d, inner) when this pattern is ``inner`` on each residue class x[g::d] and nothing across them (so a
        backend may run it per class with no compute on the skipped keys); None otherwise."""
        return None

    def global_positions(self, length: int) -> Tensor:
        """int64 [G]: sorted positions whose rows see every key and whose keys every row sees (``causal``: only
        keys at or before the row); empty when there are none."""
        self.check_length(length)
        return torch.zeros(0, dtype=torch.long)

    def local_bands(self, length: int) -> tuple[Band, ...] | None:
        """Bands over disjoint keys whose union, with the rows and columns of ``global_positions``, is this
        pattern at ``length`` (the Triton band kernels' description); None when it is no such union."""
        return None


# --------------------------------------------------------------------------------------------------------------
# Helpers shared by the pattern files (added with the patterns; the names above are the original contract).
# --------------------------------------------------------------------------------------------------------------

# block_stats(h, q_block, k_block) -> (touched, full): bool tensors, broadcast from int64 block ids.
BlockStats = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]


def check_block_size(block_size: int, pattern: str) -> None:
    check_positive("block_size", block_size, pattern)


def block_span(block: Tensor, length: int, block_size: int) -> tuple[Tensor, Tensor]:
    """First and last position (inclusive, clipped to ``length - 1``) of each block id in ``block``."""
    start = block * block_size
    end = torch.clamp(start + block_size, max=length) - 1
    return start, end


@overload
def floordiv(a: int, m: int) -> int: ...
@overload
def floordiv(a: Tensor, m: Tensor | int) -> Tensor: ...
@overload
def floordiv(a: Tensor | int, m: Tensor) -> Tensor: ...
def floordiv(a: Tensor | int, m: Tensor | int) -> Tensor | int:
    """Floor division that works on tensors and ints alike."""
    if isinstance(a, Tensor) or isinstance(m, Tensor):
        return torch.div(a, m, rounding_mode="floor")
    return a // m


def count_range(a: Tensor, b: Tensor, lo: Tensor | int, hi: Tensor | int) -> Tensor:
    """Number of integers in [a, b] ∩ [lo, hi] (0 when empty)."""
    return torch.clamp(torch.minimum(b, torch.as_tensor(hi)) - torch.maximum(a, torch.as_tensor(lo)) + 1, min=0)


def count_multiples(a: Tensor, b: Tensor, m: Tensor | int) -> Tensor:
    """Number of multiples of ``m`` (>= 1) in [a, b] (0 when empty); a, b may be negative."""
    return torch.clamp(floordiv(b, m) - floordiv(a - 1, m), min=0)


def difference_span(q_block: Tensor, k_block: Tensor, length: int, block_size: int) -> tuple[Tensor, Tensor]:
    """Smallest and largest i - j over the block pair; every integer in between is some i - j."""
    qs, qe = block_span(q_block, length, block_size)
    ks, ke = block_span(k_block, length, block_size)
    return qs - ke, qe - ks


def layout_from_candidates(
    length: int,
    block_size: int,
    candidates: Tensor,
    block_stats: BlockStats,
    dense_rows: Tensor | None = None,
) -> BlockLayout:
    """Build a BlockLayout from a superset of touched key blocks per query block.

    candidates: int64 [H', NQ, C] key-block ids that may be touched; ids outside [0, NB) mean "none" and
                duplicates are allowed. ``block_stats`` decides which are touched and which are full.
    dense_rows: optional bool [H', NQ]: rows whose candidates are every key block (e.g. global queries);
                they are handled apart so the candidate tensor stays O(NQ * C).
    Memory is O(H' * NQ * K) where K is the widest row.
    """
    nb = -(-length // block_size)
    hp, nq, _ = candidates.shape
    heads = torch.arange(hp).view(hp, 1, 1)
    rows = torch.arange(nq).view(1, nq, 1)
    cand = torch.where((candidates < 0) | (candidates >= nb), nb, candidates)
    cand, _ = torch.sort(cand, dim=-1)  # [H', NQ, C]
    dup = torch.zeros_like(cand, dtype=torch.bool)
    dup[..., 1:] = cand[..., 1:] == cand[..., :-1]
    touched, _ = block_stats(heads, rows, torch.clamp(cand, max=nb - 1))
    cand = torch.where(dup | ~touched | (cand >= nb), nb, cand)
    cand, _ = torch.sort(cand, dim=-1)
    counts = (cand < nb).sum(-1)  # [H', NQ]
    k_small = int(counts.max()) if counts.numel() else 0
    cand = cand[..., :k_small]
    valid = cand < nb
    cand = torch.where(valid, cand, 0)
    _, full_small = block_stats(heads, rows, cand)
    full_small = full_small & valid

    dense: tuple[Tensor, Tensor, Tensor, Tensor, Tensor] | None = None  # (heads, rows, indices, full, counts)
    width = k_small
    if dense_rows is not None and bool(dense_rows.any()):
        dh, dq = torch.nonzero(dense_rows.expand(hp, nq), as_tuple=True)  # [Nd]
        kb = torch.arange(nb).view(1, nb)
        d_touched, d_full = block_stats(dh[:, None], dq[:, None], kb)  # [Nd, NB]
        d_touched = d_touched.expand(len(dh), nb)
        keyed = torch.where(d_touched, kb, nb)
        keyed, order = torch.sort(keyed, dim=-1)
        dense_counts = d_touched.sum(-1)
        width = max(width, int(dense_counts.max()))
        dense_idx = torch.where(keyed < nb, keyed, 0)
        dense_full = torch.gather(d_full.expand(len(dh), nb), 1, order) & (keyed < nb)
        dense = (dh, dq, dense_idx, dense_full, dense_counts)

    indices = torch.zeros(hp, nq, width, dtype=torch.int32)
    full = torch.zeros(hp, nq, width, dtype=torch.bool)
    indices[..., :k_small] = cand.to(torch.int32)
    full[..., :k_small] = full_small
    counts = counts.to(torch.int32)
    if dense is not None:
        dh, dq, dense_idx, dense_full, dense_counts = dense
        indices[dh, dq] = dense_idx[:, :width].to(torch.int32)
        full[dh, dq] = dense_full[:, :width]
        counts[dh, dq] = dense_counts.to(torch.int32)
    return BlockLayout(length=length, block_size=block_size, indices=indices, counts=counts, full=full)


def range_candidates(lo: Tensor, hi: Tensor, num_blocks: int) -> Tensor:
    """int64 [..., K] candidate ids lo..hi per row (clipped to [0, num_blocks)); -1 pads shorter rows."""
    lo = torch.clamp(lo, min=0)
    hi = torch.clamp(hi, max=num_blocks - 1)
    width = max(int((hi - lo).max()) + 1, 0) if lo.numel() else 0
    ids = lo.unsqueeze(-1) + torch.arange(width)
    return torch.where(ids <= hi.unsqueeze(-1), ids, -1)


def mask_from_mod(mask_mod: MaskMod, length: int, num_heads: int) -> Tensor:
    """Evaluate a mask_mod on full index grids: bool [H, L, L] (tests and small plots only)."""
    b = torch.zeros((), dtype=torch.long)
    h = torch.arange(num_heads).view(-1, 1, 1)
    i = torch.arange(length).view(1, -1, 1)
    j = torch.arange(length).view(1, 1, -1)
    return mask_mod(b, h, i, j).expand(num_heads, length, length)


def normalise_causal(causal: object, pattern: str) -> None:
    if not isinstance(causal, bool):
        raise InputError(f"{pattern}: causal must be a bool, got {causal!r}")


def difference_stats(visible_count: Callable[[Tensor, Tensor], Tensor], length: int, block_size: int) -> BlockStats:
    """Block stats for patterns whose visibility depends only on d = i - j.

    ``visible_count(a, b)`` counts the visible differences in [a, b]. Every difference between the smallest and
    largest i - j of a block pair occurs, so the pair is touched iff the count is > 0 and full iff it is b - a + 1.
    """

    def stats(h: Tensor, q_block: Tensor, k_block: Tensor) -> tuple[Tensor, Tensor]:
        a, b = difference_span(q_block, k_block, length, block_size)
        count = visible_count(a, b)
        return count > 0, count == b - a + 1

    return stats


def residue_lengths(length: int, dilation: int) -> list[int]:
    """Length Lg of each residue class g = 0..d-1 (positions g, g + d, ...) of a sequence of ``length``."""
    return [(length - g + dilation - 1) // dilation for g in range(dilation)]


def to_residue_classes(x: Tensor, dilation: int) -> tuple[Tensor, Tensor]:
    """Split positions into residue classes as extra batch entries.

    x: [B, H, L, D] -> (y [d * B, H, Lmax, D], lengths int64 [d]) with Lmax = ceil(L / d). Batch entry g * B + b
    holds x[b, :, g::d, :] followed by zero padding; ``lengths[g]`` = Lg says how many entries are real, so a
    kernel must mask keys c >= Lg of class g. Inverse: ``from_residue_classes``.
    """
    check_positive("dilation", dilation, "to_residue_classes")
    b, h, length, d_head = x.shape
    lmax = -(-length // dilation)
    x = torch.nn.functional.pad(x, (0, 0, 0, lmax * dilation - length))  # [B, H, Lmax * d, D]
    y = x.view(b, h, lmax, dilation, d_head).permute(3, 0, 1, 2, 4)  # [d, B, H, Lmax, D]
    lengths = torch.tensor(residue_lengths(length, dilation), dtype=torch.long)
    return y.reshape(dilation * b, h, lmax, d_head), lengths


def from_residue_classes(y: Tensor, dilation: int, length: int) -> Tensor:
    """Inverse of ``to_residue_classes``: y [d * B, H, Lmax, D] -> x [B, H, length, D] (padding dropped)."""
    db, h, lmax, d_head = y.shape
    if db % dilation or lmax != -(-length // dilation):
        raise InputError(
            f"from_residue_classes: expected [d * B, H, ceil(L / d), D] with d={dilation}, L={length}, "
            f"got {tuple(y.shape)}"
        )
    x = y.view(dilation, db // dilation, h, lmax, d_head).permute(1, 2, 3, 0, 4)  # [B, H, Lmax, d, D]
    return x.reshape(db // dilation, h, lmax * dilation, d_head)[:, :, :length]  # [B, H, L, D]


def window_counts(length: int, window: int, dilation: int, causal: bool) -> Tensor:
    """int64 [L]: per query i, the keys j = i - t * dilation with |t| <= window (causal: 0 <= t) inside [0, L)."""
    i = torch.arange(length, dtype=torch.long)
    t_hi = torch.clamp(torch.div(i, dilation, rounding_mode="floor"), max=window)
    t_lo = torch.clamp(-torch.div(length - 1 - i, dilation, rounding_mode="floor"), min=0 if causal else -window)
    return torch.clamp(t_hi - t_lo + 1, min=0)


def count_sorted(values: Tensor, u: Tensor, v: Tensor) -> Tensor:
    """Number of entries of the sorted 1-D ``values`` inside [u, v] (0 when empty)."""
    if values.numel() == 0:
        return torch.zeros_like(u)
    upper = torch.searchsorted(values, v.contiguous(), right=True)
    lower = torch.searchsorted(values, u.contiguous(), right=False)
    return torch.clamp(upper - lower, min=0)
