"""BigBird attention (Zaheer et al. 2020): block window + global first/last blocks + seeded random blocks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch
from torch import Tensor

from genoattn.attention.patterns.base import (
    BlockLayout,
    MaskMod,
    Pattern,
    block_span,
    check_block_size,
    check_length,
    check_positive,
    layout_from_candidates,
)
from genoattn.errors import InputError


@dataclass(frozen=True, init=False)
class BigBird(Pattern):
    """Block-level pattern on blocks qb = i // block_size, kb = j // block_size, nb blocks in all.

    Visible iff abs(qb - kb) <= 1, or qb or kb in {0, nb - 1} (global blocks), or kb is one of the
    ``random_blocks`` random blocks of row qb for head h. Bidirectional only (no ``causal``).

    Random blocks are drawn per head and row without repeating the row's window or global blocks, reproducibly
    from (seed, L, num_heads); ``random_layout(length, num_heads)`` returns them as int64 [H, nb, r], rows 0
    and nb - 1 (global rows, which see everything) filled with -1. Passing such a tensor back as
    ``random_layout=`` fixes the layout (it is then validated against the length and head count at use).
    """

    block_size: int = 64
    random_blocks: int = 3
    seed: int = 0
    given_layout: Tensor | None = field(default=None, compare=False, repr=False)
    _layout_key: str = field(default="", repr=False)  # digest of given_layout: equality and hashing use it

    def __init__(
        self,
        block_size: int = 64,
        random_blocks: int | None = None,
        seed: int = 0,
        random_layout: Tensor | None = None,
    ) -> None:
        """``random_blocks`` defaults to 3, or to the r of a given ``random_layout`` [H, nb, r]."""
        if random_blocks is None:
            random_blocks = random_layout.shape[-1] if isinstance(random_layout, Tensor) else 3
        object.__setattr__(self, "block_size", block_size)
        object.__setattr__(self, "random_blocks", random_blocks)
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "given_layout", random_layout)
        object.__setattr__(self, "_layout_key", "")
        self._validate()

    def _validate(self) -> None:
        check_positive("block_size", self.block_size, "BigBird")
        check_positive("random_blocks", self.random_blocks, "BigBird", minimum=0)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise InputError(f"BigBird: seed must be an int, got {self.seed!r}")
        layout = self.given_layout
        if layout is None:
            return
        if not isinstance(layout, Tensor) or layout.dim() != 3 or layout.dtype.is_floating_point:
            raise InputError(f"BigBird: random_layout must be an integer tensor [H, nb, r], got {layout!r}")
        if layout.shape[-1] != self.random_blocks:
            raise InputError(
                f"BigBird: random_layout has r={layout.shape[-1]} columns but random_blocks={self.random_blocks}; "
                f"pass random_blocks={layout.shape[-1]}"
            )
        layout = layout.detach().to("cpu", torch.long).contiguous()
        object.__setattr__(self, "given_layout", layout)
        digest = hashlib.sha1(layout.numpy().tobytes() + str(tuple(layout.shape)).encode()).hexdigest()
        object.__setattr__(self, "_layout_key", digest)

    def __str__(self) -> str:
        given = ", random_layout=given" if self.given_layout is not None else ""
        return f"BigBird(block_size={self.block_size}, random_blocks={self.random_blocks}, seed={self.seed}{given})"

    __repr__ = __str__

    def num_blocks(self, length: int) -> int:
        check_length(length, "BigBird")
        return -(-length // self.block_size)

    # ----------------------------------------------------------------------------------------------- random layout
    def random_layout(self, length: int, num_heads: int = 1) -> Tensor:
        """int64 [H, nb, r]: the random key blocks of each head and row (-1 in rows 0 and nb - 1).

        The given layout when one was passed (checked against length and heads), else drawn from
        (seed, length, num_heads).
        """
        return self._random(length, num_heads)

    def _random(self, length: int, num_heads: int) -> Tensor:
        nb = self.num_blocks(length)
        check_positive("num_heads", num_heads, "BigBird")
        if self.given_layout is not None:
            return self._check_given(self.given_layout, nb, num_heads)
        return self._draw(nb, num_heads)

    def _excluded(self, nb: int) -> Tensor:
        """int64 [nb, 5]: window and global blocks of each row, ascending, repeats and out-of-range set to nb."""
        return _distinct_ascending(_window_and_global_blocks(nb), nb)

    def row_key_blocks(self, length: int, num_heads: int = 1) -> Tensor:
        """int64 [H, nb, 5 + r]: the key blocks of each head's block row: its window (qb - 1 .. qb + 1), the global
        blocks 0 and nb - 1 and its random blocks, ascending, each once, padded with nb (past the last block).
        The global rows 0 and nb - 1 see every block besides; their entries list only window and globals."""
        return self._row_key_blocks(self._random(length, num_heads), self.num_blocks(length))

    def _row_key_blocks(self, rand: Tensor, nb: int) -> Tensor:
        """``row_key_blocks`` for the random layout ``rand`` [H', nb, r] (-1 in the global rows)."""
        fixed = _window_and_global_blocks(nb).expand(rand.shape[0], nb, 5)  # [H', nb, 5]
        return _distinct_ascending(torch.cat([fixed, rand], dim=-1), nb)  # [H', nb, 5 + r]

    def global_positions(self, length: int) -> Tensor:
        """The positions of blocks 0 and nb - 1 (their rows see every key, their keys every row sees)."""
        pos = torch.arange(length)
        block = pos // self.block_size
        return pos[(block == 0) | (block == self.num_blocks(length) - 1)]

    def visible_pairs(self, length: int, num_heads: int = 1) -> int:
        """Per block row: the lengths of its distinct key blocks (every key for the global rows)."""
        b, nb = self.block_size, self.num_blocks(length)
        block_len = torch.clamp(length - torch.arange(nb) * b, max=b)  # [nb]
        keys = self.row_key_blocks(length, num_heads)  # [H, nb, 5 + r], nb = none
        per_row = torch.cat([block_len, torch.zeros(1, dtype=torch.long)])[keys].sum(-1)  # [H, nb] keys per query
        per_row[:, 0] = length
        per_row[:, nb - 1] = length
        return int((per_row * block_len).sum())

    def _draw(self, nb: int, num_heads: int) -> Tensor:
        r = self.random_blocks
        out = torch.full((num_heads, nb, r), -1, dtype=torch.long)
        if r == 0 or nb <= 2:
            return out
        excluded = self._excluded(nb)[1:-1]  # [nb - 2, 5] rows 1..nb-2
        available = nb - (excluded < nb).sum(1)  # [nb - 2]
        if int(available.min()) < r:
            raise InputError(
                f"BigBird: random_blocks={r} needs at least {r} blocks outside each row's window and globals, but "
                f"with {nb} blocks of {self.block_size} some rows have only {int(available.min())}; "
                f"use fewer random blocks or a longer sequence"
            )
        gen = torch.Generator().manual_seed(self.seed)
        rows = num_heads * (nb - 2)
        avail = available.repeat(num_heads)  # [R]
        chosen = torch.full((rows, r), -1, dtype=torch.long)
        for step in range(r):  # Floyd's sampling of r distinct values in [0, available)
            top = avail - r + step  # [R]
            draw = (torch.rand(rows, generator=gen, dtype=torch.float64) * (top + 1)).long()
            taken = (chosen[:, :step] == draw[:, None]).any(dim=1)
            chosen[:, step] = torch.where(taken, top, draw)
        ex = excluded.repeat(num_heads, 1)  # [R, 5]
        for col in range(ex.shape[1]):  # u-th allowed block: step over each excluded block at or below it
            chosen = chosen + (chosen >= ex[:, col : col + 1]).long()
        chosen, _ = torch.sort(chosen, dim=1)
        out[:, 1:-1] = chosen.view(num_heads, nb - 2, r)
        return out

    def _check_given(self, layout: Tensor, nb: int, num_heads: int) -> Tensor:
        h, rows, r = layout.shape
        if rows != nb or h not in (1, num_heads):
            raise InputError(
                f"BigBird: random_layout is [{h}, {rows}, {r}] but L and heads need [{num_heads} (or 1), {nb}, {r}]"
            )
        layout = layout.expand(num_heads, nb, r)
        if nb and r and ((layout[:, 0] != -1).any() or (layout[:, -1] != -1).any()):
            raise InputError("BigBird: random_layout rows 0 and nb-1 (global rows) must hold -1")
        middle = layout[:, 1:-1]  # [H, nb - 2, r]
        if middle.numel():
            if (middle < 0).any() or (middle >= nb).any():
                raise InputError(f"BigBird: random_layout entries of rows 1..nb-2 must be in [0, {nb})")
            excluded = self._excluded(nb)[1:-1]  # [nb - 2, 5]
            if (middle.unsqueeze(-1) == excluded.view(1, nb - 2, 1, 5)).any():
                raise InputError("BigBird: random_layout repeats a window or global block of its row")
            ordered, _ = torch.sort(middle, dim=-1)
            if (ordered[..., 1:] == ordered[..., :-1]).any():
                raise InputError("BigBird: random_layout repeats a block within a row")
        return layout

    # ----------------------------------------------------------------------------------------------------- masks
    def _block_visible(self, rand: Tensor, nb: int, h: Tensor, qb: Tensor, kb: Tensor) -> Tensor:
        """Block-level visibility for broadcastable int64 h, qb, kb (qb, kb in [0, nb))."""
        visible = ((qb - kb).abs() <= 1) | (qb == 0) | (qb == nb - 1) | (kb == 0) | (kb == nb - 1)
        for t in range(rand.shape[-1]):
            visible = visible | (rand[:, :, t][h, qb] == kb)
        return visible

    def mask_mod_for(self, length: int, num_heads: int = 1) -> MaskMod:
        rand = self._random(length, num_heads)  # [H, nb, r]
        nb, b = self.num_blocks(length), self.block_size

        def mask_mod(batch: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            return self._block_visible(rand, nb, h, q_idx // b, kv_idx // b)

        return mask_mod

    def dense_mask(self, length: int, num_heads: int = 1) -> Tensor:
        """bool [H, L, L]: the block-level mask [H, nb, nb] spread over positions."""
        rand = self._random(length, num_heads)  # [H, nb, r]
        nb = self.num_blocks(length)
        qb = torch.arange(nb).view(nb, 1)
        kb = torch.arange(nb).view(1, nb)
        blocks = ((qb - kb).abs() <= 1) | (qb == 0) | (qb == nb - 1) | (kb == 0) | (kb == nb - 1)
        blocks = blocks.unsqueeze(0).repeat(num_heads, 1, 1)  # [H, nb, nb]
        hh, rows, cols = torch.nonzero(rand >= 0, as_tuple=True)
        blocks[hh, rows, rand[hh, rows, cols]] = True
        pos_block = torch.arange(length) // self.block_size  # [L]
        return blocks[:, pos_block][:, :, pos_block]  # [H, L, L]

    # ------------------------------------------------------------------------------------------------ block layout
    def block_layout(self, length: int, block_size: int = 128, num_heads: int = 1) -> BlockLayout:
        """Layout over kernel blocks of ``block_size`` (any size relative to the BigBird block).

        H' = num_heads when there are random blocks, else 1; rows holding BigBird block 0 or nb - 1 see every
        key block.
        """
        check_block_size(block_size, "BigBird")
        rand = self._random(length, num_heads)  # [H, nb, r]
        if rand.shape[-1] == 0 or bool((rand < 0).all()) or bool((rand == rand[:1]).all()):
            rand = rand[:1]  # every head has the same layout: H' = 1
        heads = rand.shape[0]
        nb, b, bs = self.num_blocks(length), self.block_size, block_size
        nq = -(-length // bs)
        span_q = (bs - 1) // b + 2  # most BigBird blocks a kernel block can overlap
        span_k = (b - 1) // bs + 2  # most kernel blocks a BigBird block can overlap

        def stats(h: Tensor, q_block: Tensor, k_block: Tensor) -> tuple[Tensor, Tensor]:
            qs, qe = block_span(q_block, length, bs)
            ks, ke = block_span(k_block, length, bs)
            qa, qz, ka, kz = qs // b, qe // b, ks // b, ke // b
            touched = torch.zeros((), dtype=torch.bool)
            full = torch.ones((), dtype=torch.bool)
            for dq in range(span_q):
                for dk in range(span_q):
                    qbb, kbb = qa + dq, ka + dk
                    valid = (qbb <= qz) & (kbb <= kz)
                    vis = self._block_visible(rand, nb, h, torch.clamp(qbb, max=nb - 1), torch.clamp(kbb, max=nb - 1))
                    touched = touched | (valid & vis)
                    full = full & (~valid | vis)
            return touched, full

        qs, qe = block_span(torch.arange(nq), length, bs)
        first_q = (qs // b).view(1, nq, 1, 1)
        q_bblocks = first_q + torch.arange(span_q).view(1, 1, span_q, 1)  # [1, NQ, span_q, 1]
        q_valid = q_bblocks <= (qe // b).view(1, nq, 1, 1)
        q_bblocks = torch.clamp(q_bblocks, max=nb - 1)
        heads_idx = torch.arange(heads).view(heads, 1, 1)
        key_bblocks = self._row_key_blocks(rand, nb)[heads_idx, q_bblocks.squeeze(-1)]  # [H', NQ, span_q, 5 + r]
        key_bblocks = torch.where(q_valid & (key_bblocks < nb), key_bblocks, -1)
        first_k = torch.where(key_bblocks >= 0, key_bblocks * b // bs, -1).unsqueeze(-1)
        last_k = (torch.clamp(key_bblocks * b + b, max=length) - 1) // bs
        cand = first_k + torch.arange(span_k)  # [H', NQ, span_q, 5 + r, span_k]
        cand = torch.where((first_k >= 0) & (cand <= last_k.unsqueeze(-1)), cand, -1)
        dense_rows = ((qs // b == 0) | (qe // b == nb - 1)).view(1, nq)
        return layout_from_candidates(length, bs, cand.reshape(heads, nq, -1), stats, dense_rows)


def _window_and_global_blocks(nb: int) -> Tensor:
    """int64 [nb, 5]: block row qb's window qb - 1, qb, qb + 1 and the global blocks 0 and nb - 1 (some may be out
    of range or repeat)."""
    qb = torch.arange(nb).view(nb, 1)
    return torch.cat([torch.zeros_like(qb), qb - 1, qb, qb + 1, torch.full_like(qb, nb - 1)], dim=1)


def _distinct_ascending(blocks: Tensor, nb: int) -> Tensor:
    """``blocks`` [..., n] sorted along the last dimension with repeats and ids outside [0, nb) set to nb (last)."""
    blocks = torch.where((blocks < 0) | (blocks >= nb), nb, blocks)
    blocks, _ = torch.sort(blocks, dim=-1)
    repeat = torch.zeros_like(blocks, dtype=torch.bool)
    repeat[..., 1:] = blocks[..., 1:] == blocks[..., :-1]
    blocks, _ = torch.sort(torch.where(repeat, nb, blocks), dim=-1)
    return blocks
