"""Bands: a pattern described as one contiguous run of keys per query within its residue class.

A band lets query i see one run of keys of its residue class g = i % dilation. In class indices
(c = i // dilation, class length Lg), query c sees ``lo(c) .. hi(c)`` with

- window form: lo = max(c - left, 0), hi = min(c + right, Lg - 1);
- neighborhood form (``kernel_size`` > 0): lo = clamp(c - kernel_size // 2, 0, Lg - kernel_size),
  hi = lo + kernel_size - 1;

minus the keys with |c' - c| <= ``hole`` when hole >= 0. Patterns that are such runs say so through
``Pattern.local_bands`` (the Triton band kernels take this description); ``Band.dense_mask`` rebuilds the mask
from it, and the tests check that it equals each pattern's own mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Band:
    """One run of keys per query within its residue class mod ``dilation`` (``kernel_size`` > 0: neighborhood
    form; ``hole`` >= 0: keys with |c' - c| <= hole left out)."""

    dilation: int = 1
    left: int = 0
    right: int = 0
    kernel_size: int = 0
    hole: int = -1

    @property
    def neighborhood(self) -> bool:
        return self.kernel_size > 0

    def key_bounds(self, c: Tensor, class_length: int) -> tuple[Tensor, Tensor]:
        """First and last visible key (class indices) of queries ``c`` in a class of ``class_length``."""
        if self.neighborhood:
            lo = torch.clamp(torch.clamp(c - self.kernel_size // 2, min=0), max=class_length - self.kernel_size)
            return lo, lo + self.kernel_size - 1
        return torch.clamp(c - self.left, min=0), torch.clamp(c + self.right, max=class_length - 1)

    def dense_mask(self, length: int) -> Tensor:
        """bool [L, L] (query rows, key columns) built from the band description alone."""
        i = torch.arange(length)
        g, c = i % self.dilation, i // self.dilation
        row_lo = torch.empty(length, dtype=torch.long)
        row_hi = torch.empty(length, dtype=torch.long)
        for r in range(self.dilation):
            in_class = g == r
            row_lo[in_class], row_hi[in_class] = self.key_bounds(c[in_class], int(in_class.sum()))
        same_class = g[:, None] == g[None, :]
        outside_hole = (c[None, :] - c[:, None]).abs() > self.hole
        return same_class & (c[None, :] >= row_lo[:, None]) & (c[None, :] <= row_hi[:, None]) & outside_hole


def window_band(window: int, dilation: int, causal: bool) -> Band:
    """The band of a (dilated) window: ``window`` class steps on each side (causal: none to the right)."""
    return Band(dilation, window, 0 if causal else window)
