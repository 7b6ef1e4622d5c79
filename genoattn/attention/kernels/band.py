"""Global tokens in the Triton band kernels' terms.

The kernels take a pattern as bands (``genoattn.attention.patterns.band.Band``, from ``Pattern.local_bands``)
plus, for Longformer, its global tokens (``Pattern.global_positions``) as extra rows and columns.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class GlobalTokens:
    """Global tokens in the kernels' terms: sequence positions (int32, on the device) whose rows see every key and
    whose keys every row sees (``causal``: only keys at or before the row)."""

    positions: Tensor
    causal: bool = False
