"""Attention mask patterns (one file each); see DESIGN.md "Exact semantics" for the table they follow."""

from genoattn.attention.patterns.base import BlockLayout, Pattern
from genoattn.attention.patterns.full import Full
from genoattn.attention.patterns.sliding_window import SlidingWindow

__all__ = ["BlockLayout", "Full", "Pattern", "SlidingWindow"]
