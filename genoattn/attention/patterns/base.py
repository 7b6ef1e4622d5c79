"""The contract every attention pattern follows (see DESIGN.md, "Attention: one spec, several backends").

A pattern is a frozen dataclass. It gives three views of one boolean "query i may see key j" relation:

- ``mask_mod(b, h, q_idx, kv_idx)``: FlexAttention's mask function; pure tensor ops, broadcastable.
  Patterns whose mask depends on the sequence length (BigBird, Neighborhood, Longformer's
  globals given as negative indices) get the length through ``mask_mod_for(length, num_heads)``;
  ``mask_mod`` is only defined for patterns that do not need it.
- ``dense_mask(length, num_heads)``: bool ``[H or 1, L, L]``; the readable specification.
- ``block_layout(length, block_size, num_heads)``: which key blocks each query block touches,
  computed analytically in O(L * blocks-per-row) memory (never from an L x L mask).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

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

    Subclasses implement ``mask_mod_for(length, num_heads)``, ``dense_mask(length, num_heads)`` and
    ``block_layout(length, block_size, num_heads)``; ``causal`` is a field where the pattern allows it.
    ``mask_mod_for`` returns FlexAttention's ``mask_mod(b, h, q_idx, kv_idx)`` for that length
    (patterns whose mask does not depend on the length may ignore it).
    """

    def mask_mod_for(self, length: int, num_heads: int) -> MaskMod:
        raise NotImplementedError

    def dense_mask(self, length: int, num_heads: int = 1) -> Tensor:
        raise NotImplementedError

    def block_layout(self, length: int, block_size: int = 128, num_heads: int = 1) -> BlockLayout:
        raise NotImplementedError
