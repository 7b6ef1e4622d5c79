"""Attention mask patterns (one file each); see docs/design.md, section 2.3 "Exact semantics"."""

from genoattn.attention.patterns.base import (
    BlockLayout,
    Pattern,
    from_residue_classes,
    mask_from_mod,
    to_residue_classes,
)
from genoattn.attention.patterns.bigbird import BigBird
from genoattn.attention.patterns.dilated_sliding_window import DilatedSlidingWindow
from genoattn.attention.patterns.fixed_factorized import FixedFactorized
from genoattn.attention.patterns.full import Full
from genoattn.attention.patterns.longformer import Longformer
from genoattn.attention.patterns.neighborhood import Neighborhood
from genoattn.attention.patterns.sliding_window import SlidingWindow
from genoattn.attention.patterns.strided import Strided

__all__ = [
    "BigBird",
    "BlockLayout",
    "DilatedSlidingWindow",
    "FixedFactorized",
    "Full",
    "Longformer",
    "Neighborhood",
    "Pattern",
    "SlidingWindow",
    "Strided",
    "from_residue_classes",
    "mask_from_mod",
    "to_residue_classes",
]
