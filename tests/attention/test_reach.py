"""reach: layers until i sees j, from the masks; checked against the patterns' analytic ``layer_radius``."""

from __future__ import annotations

import pytest
import torch

from genoattn.attention import patterns as P
from genoattn.attention.reach import (
    NEVER,
    layer_mask,
    layers_to_full_view,
    layers_to_reach,
    receptive_field_sizes,
)
from genoattn.errors import InputError

L = 48


def test_sliding_window_needs_ceil_distance_over_window_layers():
    layers = layers_to_reach(layer_mask(P.SlidingWindow(5), L))
    i, j = torch.meshgrid(torch.arange(L), torch.arange(L), indexing="ij")
    expected = torch.div((i - j).abs() + 4, 5, rounding_mode="floor")
    torch.testing.assert_close(layers, expected)


@pytest.mark.parametrize(
    "pattern", [P.SlidingWindow(3), P.DilatedSlidingWindow(2, dilation=3), P.Longformer(4, global_tokens=())]
)
def test_reach_after_n_layers_is_n_radii(pattern):
    radius = pattern.layer_radius()
    layers = layers_to_reach(layer_mask(pattern, L))
    distance = (torch.arange(L)[:, None] - torch.arange(L)[None, :]).abs()
    for n in range(1, 4):
        reached = (layers >= 0) & (layers <= n)
        assert int(distance[reached].max()) == min(n * radius, L - 1 - (L - 1) % getattr(pattern, "dilation", 1))


def test_neighborhood_stays_within_its_bound():
    pattern = P.Neighborhood(kernel_size=5, dilation=2)
    layers = layers_to_reach(layer_mask(pattern, L))
    distance = (torch.arange(L)[:, None] - torch.arange(L)[None, :]).abs()
    for n in range(1, 4):
        reached = (layers >= 0) & (layers <= n)
        assert int(distance[reached].max()) <= n * pattern.layer_radius()


def test_dilation_never_crosses_residue_classes():
    layers = layers_to_reach(layer_mask(P.DilatedSlidingWindow(4, dilation=2), L))
    parity = torch.arange(L) % 2
    assert bool((layers[parity[:, None] != parity[None, :]] == NEVER).all())
    assert bool((layers[parity[:, None] == parity[None, :]] >= 0).all())
    assert layers_to_full_view(layer_mask(P.DilatedSlidingWindow(4, dilation=2), L)) is None


def test_global_patterns_see_everything_in_two_layers():
    assert layers_to_full_view(layer_mask(P.Full(), L)) == 1
    assert layers_to_full_view(layer_mask(P.Longformer(2, global_tokens=(0,)), L)) == 2
    assert layers_to_full_view(layer_mask(P.Strided(8), L)) == 2


def test_heads_are_unioned():
    pattern = P.Longformer(2, global_tokens=(), dilation=(1, 4))
    mask = layer_mask(pattern, L, num_heads=2)
    both = pattern.dense_mask(L, 2)
    torch.testing.assert_close(mask, both[0] | both[1])


def test_receptive_field_sizes_count_reached_inputs():
    sizes = receptive_field_sizes(layer_mask(P.SlidingWindow(2), L), num_layers=3)
    assert sizes.shape == (4, L)
    assert sizes[:, L // 2].tolist() == [1, 5, 9, 13]
    assert sizes[:, 0].tolist() == [1, 3, 5, 7]  # the edge sees only one side


def test_max_layers_stops_early():
    layers = layers_to_reach(layer_mask(P.SlidingWindow(1), L), max_layers=2)
    assert int(layers.max()) == 2
    assert int(layers[0, L - 1]) == NEVER


def test_bad_mask_is_an_input_error():
    with pytest.raises(InputError, match="bool \\[L, L\\]"):
        layers_to_reach(torch.ones(3, 4, dtype=torch.bool))
