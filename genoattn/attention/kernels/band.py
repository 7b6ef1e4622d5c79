"""Which patterns are *band* patterns, and their band: the description the Triton band kernels take.

A band pattern lets query i see one contiguous run of keys of its residue class g = i % dilation. In class
indices (c = i // dilation, class length Lg), query c sees ``lo(c) .. hi(c)`` with

- window: lo = max(c - left, 0), hi = min(c + right, Lg - 1)  (SlidingWindow: dilation 1; DilatedSlidingWindow);
- neighborhood: lo = clamp(c - kernel_size // 2, 0, Lg - kernel_size), hi = lo + kernel_size - 1 (Neighborhood).

``band_mask`` rebuilds the dense mask from this description; tests check it equals the pattern's own mask.
Longformer is its window's band (``longformer_band``) plus ``GlobalTokens``; Strided two bands (``band_passes``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from genoattn.attention.patterns import DilatedSlidingWindow, Longformer, Neighborhood, SlidingWindow, Strided


@dataclass(frozen=True)
class Band:
    """A band pattern in the kernels' terms (``kernel_size`` > 0 selects the neighborhood form)."""

    dilation: int = 1
    left: int = 0
    right: int = 0
    kernel_size: int = 0
    hole: int = -1  # keys with |c - c'| <= hole left out (-1: none)

    @property
    def neighborhood(self) -> bool:
        return self.kernel_size > 0

    def key_bounds(self, c: Tensor, class_length: int) -> tuple[Tensor, Tensor]:
        """First and last visible key (class indices) of queries ``c`` in a class of ``class_length``."""
        if self.neighborhood:
            lo = torch.clamp(torch.clamp(c - self.kernel_size // 2, min=0), max=class_length - self.kernel_size)
            return lo, lo + self.kernel_size - 1
        return torch.clamp(c - self.left, min=0), torch.clamp(c + self.right, max=class_length - 1)


def band_of(pattern: object) -> Band | None:
    """The band of ``pattern``, or None when it is not a band pattern."""
    if type(pattern) is SlidingWindow:
        return Band(1, pattern.window, 0 if pattern.causal else pattern.window)
    if type(pattern) is DilatedSlidingWindow:
        return Band(pattern.dilation, pattern.window, 0 if pattern.causal else pattern.window)
    if type(pattern) is Neighborhood:
        return Band(pattern.dilation, kernel_size=pattern.kernel_size)
    return None


def band_passes(pattern: object, length: int) -> tuple[Band, ...] | None:
    """Bands over disjoint keys whose union is ``pattern`` at ``length`` (the kernels chain them), else None.

    Strided(l) = the window |i - j| <= l, plus its residue class mod l (dilation l, every class index) with a hole
    of 1 (c' = c, c +- 1 are positions i, i +- l, which the window holds)."""
    band = band_of(pattern)
    if band is not None:
        return (band,)
    if type(pattern) is Longformer:
        band = longformer_band(pattern)
        return None if band is None else (band,)
    if type(pattern) is Strided:
        s, right = pattern.stride, 0 if pattern.causal else 1
        return Band(1, s, s * right), Band(s, length, length * right, hole=1)
    return None


def band_mask(band: Band, length: int) -> Tensor:
    """Dense [L, L] mask of a band (query rows, key columns), built from the band description."""
    i = torch.arange(length)
    g, c = i % band.dilation, i // band.dilation
    row_lo = torch.empty(length, dtype=torch.long)
    row_hi = torch.empty(length, dtype=torch.long)
    for r in range(band.dilation):
        in_class = g == r
        row_lo[in_class], row_hi[in_class] = band.key_bounds(c[in_class], int(in_class.sum()))
    same_class = g[:, None] == g[None, :]
    outside_hole = (c[None, :] - c[:, None]).abs() > band.hole
    return same_class & (c[None, :] >= row_lo[:, None]) & (c[None, :] <= row_hi[:, None]) & outside_hole


@dataclass(frozen=True)
class GlobalTokens:
    """Longformer's global tokens in the kernels' terms: sequence positions (int32, on the device) whose rows see
    every key and whose keys every row sees (``causal``: only keys at or before the row)."""

    positions: Tensor
    causal: bool = False


def longformer_band(pattern: Longformer) -> Band | None:
    """The band of a Longformer's window when its heads share one dilation, else None (the kernels take one
    dilation per call)."""
    dilations = {pattern.dilation} if isinstance(pattern.dilation, int) else set(pattern.dilation)
    if len(dilations) != 1:
        return None
    return Band(dilations.pop(), pattern.window, 0 if pattern.causal else pattern.window)
