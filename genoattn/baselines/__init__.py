"""Baselines that the attention models are compared with (no attention, no GPU)."""
