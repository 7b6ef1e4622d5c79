"""Neighborhood attention (NATTEN 1D, Hassani et al.): each query sees exactly kernel_size keys."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from genoattn.attention.patterns.band import Band
from genoattn.attention.patterns.base import (
    BlockLayout,
    MaskMod,
    Pattern,
    block_span,
    check_block_size,
    check_length,
    check_positive,
    count_range,
    floordiv,
    layout_from_candidates,
    range_candidates,
    residue_lengths,
)
from genoattn.errors import InputError


@dataclass(frozen=True)
class Neighborhood(Pattern):
    """NATTEN 1D neighborhood attention with dilation; bidirectional only (no ``causal``).

    Within the residue class g = i % dilation (positions g, g + d, ..., Lg of them), query index c = i // d sees
    the kernel_size keys of class g with indices start .. start + kernel_size - 1, where
    start = clamp(c - kernel_size // 2, 0, Lg - kernel_size): always exactly kernel_size keys, the window
    shifted (not cut) at the edges. Needs Lg >= kernel_size for every class, i.e. L // dilation >= kernel_size.
    """

    kernel_size: int
    dilation: int = 1

    def __post_init__(self) -> None:
        check_positive("kernel_size", self.kernel_size, "Neighborhood")
        if self.kernel_size % 2 == 0:
            raise InputError(f"Neighborhood: kernel_size must be odd, got {self.kernel_size}")
        check_positive("dilation", self.dilation, "Neighborhood")

    def __str__(self) -> str:
        dilation = f", dilation={self.dilation}" if self.dilation != 1 else ""
        return f"Neighborhood(kernel_size={self.kernel_size}{dilation})"

    def check_length(self, length: int) -> None:
        """Raise InputError unless every residue class holds at least kernel_size positions."""
        check_length(length, "Neighborhood")
        if length // self.dilation < self.kernel_size:
            raise InputError(
                f"Neighborhood: kernel_size={self.kernel_size} with dilation={self.dilation} needs every residue "
                f"class to hold >= {self.kernel_size} positions, i.e. L >= {self.kernel_size * self.dilation}; "
                f"got L={length}"
            )

    def residue_classes(self, length: int) -> list[tuple[int, int]]:
        """(g, Lg) for each residue class g = 0..d-1: positions g, g + d, ... of which there are Lg."""
        self.check_length(length)
        return list(enumerate(residue_lengths(length, self.dilation)))

    def residue_split(self) -> tuple[int, Pattern] | None:
        """Neighborhood(kernel_size) on each residue class (None for dilation 1)."""
        return (self.dilation, Neighborhood(self.kernel_size)) if self.dilation > 1 else None

    def layer_radius(self) -> int:
        """2 * (k - 1) * d: windows shift (not shrink) at sequence edges, so their edge effect travels one extra
        window; this bounds it."""
        return 2 * (self.kernel_size - 1) * self.dilation

    def local_bands(self, length: int) -> tuple[Band, ...]:
        return (Band(self.dilation, kernel_size=self.kernel_size),)

    def visible_pairs(self, length: int, num_heads: int = 1) -> int:
        """Exactly kernel_size keys per query."""
        self.check_length(length)
        return length * self.kernel_size * num_heads

    def window_start(self, c: Tensor, class_length: Tensor | int) -> Tensor:
        """First key index (within the residue class) seen by query index ``c`` of a class of ``class_length``."""
        return torch.minimum(
            torch.clamp(c - self.kernel_size // 2, min=0), torch.as_tensor(class_length - self.kernel_size)
        )

    def mask_mod_for(self, length: int, num_heads: int = 1) -> MaskMod:
        self.check_length(length)
        k, d = self.kernel_size, self.dilation

        def mask_mod(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            g = q_idx % d
            class_length = (length - g + d - 1) // d
            start = torch.minimum(torch.clamp(q_idx // d - k // 2, min=0), class_length - k)
            kc = kv_idx // d
            return (kv_idx % d == g) & (kc >= start) & (kc < start + k)

        return mask_mod

    def dense_mask(self, length: int, num_heads: int = 1) -> Tensor:
        self.check_length(length)
        d = self.dilation
        i = torch.arange(length)
        class_length = torch.tensor(residue_lengths(length, d))[i % d]  # Lg of each query's class
        start = self.window_start(i // d, class_length)  # [L]
        j = torch.arange(length)
        same_class = (i[:, None] % d) == (j[None, :] % d)
        in_window = (j[None, :] // d >= start[:, None]) & (j[None, :] // d < start[:, None] + self.kernel_size)
        return (same_class & in_window).unsqueeze(0)  # [1, L, L]

    def block_layout(self, length: int, block_size: int = 128, num_heads: int = 1) -> BlockLayout:
        """Key blocks within (kernel_size - 1) * dilation of the query block, kept where a class window meets them."""
        self.check_length(length)
        check_block_size(block_size, "Neighborhood")
        k, d, bs = self.kernel_size, self.dilation, block_size
        nq = -(-length // bs)
        lengths = torch.tensor(residue_lengths(length, d))  # [d]
        g = torch.arange(d)

        def stats(h: Tensor, q_block: Tensor, k_block: Tensor) -> tuple[Tensor, Tensor]:
            qs, qe = block_span(q_block.unsqueeze(-1), length, bs)  # [..., 1]
            ks, ke = block_span(k_block.unsqueeze(-1), length, bs)
            c_first, c_last = floordiv(qs - g + d - 1, d), floordiv(qe - g, d)  # query indices of class g [..., d]
            has_query = c_first <= c_last
            kc_first, kc_last = floordiv(ks - g + d - 1, d), floordiv(ke - g, d)  # key indices of class g
            first_start = self.window_start(c_first, lengths)
            last_start = self.window_start(c_last, lengths)
            # union of the class windows: [first_start, last_start + k - 1]
            # intersection (seen by every query of the class): [last_start, first_start + k - 1]
            seen = count_range(kc_first, kc_last, first_start, last_start + k - 1)
            seen_by_all = count_range(kc_first, kc_last, last_start, first_start + k - 1)
            touched = (has_query & (seen > 0)).any(-1)
            full = (~has_query | (seen_by_all == ke - ks + 1)).all(-1)
            return touched, full

        qs, qe = block_span(torch.arange(nq), length, bs)
        reach = (k - 1) * d
        cand = range_candidates(floordiv(qs - reach, bs), floordiv(qe + reach, bs), nq)  # [NQ, C]
        return layout_from_candidates(length, bs, cand.unsqueeze(0), stats)
