"""attention_maps: the recorded weights are the ones the layers use (weights @ v = the layer's attention output)."""

from __future__ import annotations

import pytest
import torch

from genoattn.attention.patterns import Longformer, SlidingWindow
from genoattn.errors import InputError
from genoattn.models import GenomeTransformer, PerformerSpec
from genoattn.models.attention_maps import attention_maps, mean_distance, offset_profile


def tiny(attention, **kwargs) -> GenomeTransformer:
    torch.manual_seed(0)
    return GenomeTransformer(d_model=16, num_layers=2, num_heads=2, dropout=0.0, attention=attention,
                             backend="reference", **kwargs)


@pytest.mark.parametrize("positions", ["rotary", "alibi"])
def test_maps_follow_the_mask_and_reproduce_the_layer_output(positions):
    pattern = Longformer(2, global_tokens=(0,), dilation=(1, 2))
    net = tiny(pattern, positions=positions)
    ids = torch.randint(4, 8, (2, 24))
    maps = attention_maps(net, ids)
    assert len(maps) == 2 and maps[0].shape == (2, 2, 24, 24)
    mask = pattern.dense_mask(24, 2)
    for weights in maps:
        assert bool((weights[:, ~mask] == 0).all())  # nothing outside the pattern
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, 24))
    # the first layer's weights times its values give that layer's attention output
    attn = net.encoder.blocks[0].attn
    x = net.encoder.blocks[0].norm1(net.encoder.embed(ids)[0])
    _, _, v = attn._heads(x)
    out = (maps[0] @ v).transpose(1, 2).reshape(2, 24, 16)
    torch.testing.assert_close(attn.proj(out), attn(x), atol=1e-5, rtol=1e-5)


def test_patch_tokens_and_mode_restored():
    net = tiny(SlidingWindow(2), patch_size=4)
    net.train()
    maps = attention_maps(net, torch.randint(4, 8, (1, 32)))
    assert maps[0].shape == (1, 2, 8, 8) and net.training


def test_patterns_without_weights_are_refused():
    with pytest.raises(InputError, match="PerformerSpec has no attention weights"):
        attention_maps(tiny(PerformerSpec(num_features=8, seed=0)), torch.randint(4, 8, (1, 16)))


def test_mean_distance_and_offset_profile():
    weights = torch.zeros(1, 2, 5, 5)
    weights[0, 0] = torch.eye(5)  # head 0: every query on itself
    weights[0, 1, torch.arange(4), torch.arange(1, 5)] = 1.0  # head 1: the next key (the last query: itself)
    weights[0, 1, 4, 4] = 1.0
    torch.testing.assert_close(mean_distance(weights), torch.tensor([[0.0, 0.8]]))
    profile = offset_profile(weights, 1)  # offsets -1, 0, +1
    torch.testing.assert_close(profile[0, 0], torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(profile[0, 1], torch.tensor([0.0, 0.2, 1.0]))
    with pytest.raises(InputError, match="max_offset must be in"):
        offset_profile(weights, 5)
