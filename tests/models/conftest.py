"""Shared fixtures for the model tests: tiny models and example specs of every attention kind."""

from __future__ import annotations

import pytest
import torch

import genoattn.attention.patterns as patterns
from genoattn.data.vocab import A, T
from genoattn.models import GenomeTransformer

# One small instance of every pattern (keyword arguments); a new pattern class must be added here.
PATTERN_EXAMPLES: dict[str, dict] = {
    "Full": {},
    "SlidingWindow": {"window": 3},
    "DilatedSlidingWindow": {"window": 2, "dilation": 2},
    "Strided": {"stride": 4},
    "FixedFactorized": {"block": 4, "summary": 1},
    "Longformer": {"window": 2, "global_tokens": (0,)},
    "BigBird": {"block_size": 4, "random_blocks": 1, "seed": 0},
    "Neighborhood": {"kernel_size": 5, "dilation": 1},
}


def exported_patterns() -> list[str]:
    """Names of the pattern classes genoattn.attention.patterns exports now."""
    return [
        name
        for name in patterns.__all__
        if isinstance(getattr(patterns, name), type)
        and issubclass(getattr(patterns, name), patterns.Pattern)
        and getattr(patterns, name) is not patterns.Pattern
    ]


def make_pattern(name: str):
    return getattr(patterns, name)(**PATTERN_EXAMPLES[name])


@pytest.fixture
def tiny():
    """Factory of tiny GenomeTransformer models (d=16, 2 layers, 2 heads, no dropout, reference backend)."""

    def build(**overrides) -> GenomeTransformer:
        kwargs = dict(d_model=16, num_layers=2, num_heads=2, mlp_ratio=2.0, dropout=0.0, backend="reference")
        kwargs.update(overrides)
        return GenomeTransformer(**kwargs)

    return build


@pytest.fixture
def dna():
    """Factory of random nucleotide ids [B, L] (A..T)."""

    def draw(batch: int = 2, length: int = 32) -> torch.Tensor:
        return torch.randint(A, T + 1, (batch, length))

    return draw
