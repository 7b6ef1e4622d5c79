"""Every attention kind runs through the model forward and backward; per-layer specs take effect."""

from __future__ import annotations

import pytest
import torch

from genoattn.attention.patterns import Full, SlidingWindow
from genoattn.errors import ConfigError
from genoattn.models import PerformerSpec, RoutingSpec
from genoattn.models.attention import SelfAttention

from .conftest import PATTERN_EXAMPLES, exported_patterns, make_pattern

BACKENDS = ["reference", "blocked"]


def test_every_exported_pattern_has_an_example():
    missing = set(exported_patterns()) - set(PATTERN_EXAMPLES)
    assert not missing, f"add an example of {sorted(missing)} to tests/models/conftest.py"


def _fwd_bwd(model, ids):
    out = model(ids)
    out.float().pow(2).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert torch.isfinite(out).all()
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    qkv_grad = model.encoder.blocks[0].attn.qkv.weight.grad
    assert qkv_grad.abs().sum() > 0  # gradients reach the attention projections
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", exported_patterns())
def test_pattern_runs_forward_backward(tiny, dna, name, backend):
    model = tiny(attention=make_pattern(name), backend=backend, num_classes=3)
    out = _fwd_bwd(model, dna(2, 32))
    assert out.shape == (2, 32, 3)


@pytest.mark.parametrize("name", exported_patterns())
def test_pattern_runs_with_patch_stem_and_alibi(tiny, dna, name):
    model = tiny(attention=make_pattern(name), positions="alibi", patch_size=2)
    assert _fwd_bwd(model, dna(2, 64)).shape == (2, 64, 2)


def test_performer_runs_forward_backward(tiny, dna):
    model = tiny(attention=PerformerSpec(num_features=16, seed=3), positions="rotary")
    assert _fwd_bwd(model, dna(2, 32)).shape == (2, 32, 2)
    modules = [block.attn.attention_module for block in model.encoder.blocks]
    assert modules[0].num_features == 16
    assert not torch.equal(modules[0].projection, modules[1].projection)  # per-layer seeds differ


def test_routing_runs_forward_backward_and_updates_centroids(tiny, dna):
    model = tiny(attention=RoutingSpec(num_clusters=2, window=8, ema_decay=0.9, seed=1))
    modules = [block.attn.attention_module for block in model.encoder.blocks]
    assert modules[0].num_clusters == 2
    assert not torch.equal(modules[0].centroids, modules[1].centroids)  # per-layer seeds differ
    before = modules[0].centroids.clone()
    assert _fwd_bwd(model, dna(2, 32)).shape == (2, 32, 2)
    assert not torch.equal(before, modules[0].centroids)  # EMA k-means step in training mode


@pytest.mark.parametrize("spec", [PerformerSpec(num_features=16), RoutingSpec(num_clusters=2, window=8)])
def test_alibi_with_kernel_attention_is_refused(tiny, spec):
    with pytest.raises(ConfigError, match="alibi"):
        tiny(attention=spec, positions="alibi")


def test_per_layer_specs_are_used_in_order(tiny):
    specs = [SlidingWindow(window=1), Full()]
    model = tiny(attention=specs)
    assert [block.attn.spec for block in model.encoder.blocks] == specs


def _reach(model, ids, source: int, target: int) -> float:
    """How much the output at ``target`` changes when token ``source`` is mutated."""
    changed = ids.clone()
    changed[:, source] = 4 + (changed[:, source] - 4 + 1) % 4  # another nucleotide
    model.eval()
    with torch.no_grad():
        return float((model(ids)[:, target] - model(changed)[:, target]).abs().max())


def test_per_layer_specs_change_the_receptive_field(tiny, dna):
    ids = dna(1, 48)
    local = tiny(attention=[SlidingWindow(window=1), SlidingWindow(window=1)])
    mixed = tiny(attention=[SlidingWindow(window=1), Full()])
    assert _reach(local, ids, 0, 40) == 0.0  # two layers of +-1 cannot carry position 0 to 40
    assert _reach(local, ids, 38, 40) > 0.0
    assert _reach(mixed, ids, 0, 40) > 0.0  # a global upper layer can


def test_self_attention_module_shapes():
    layer = SelfAttention(16, 4, SlidingWindow(window=2), backend="reference", positions="alibi")
    assert layer.alibi_slopes.shape == (4,)
    x = torch.randn(3, 10, 16)
    assert layer(x).shape == (3, 10, 16)


@pytest.mark.parametrize("positions", ["rotary", "alibi"])
@pytest.mark.parametrize("name", exported_patterns())
def test_blocked_backend_matches_reference_inside_the_model(tiny, dna, name, positions):
    reference = tiny(attention=make_pattern(name), positions=positions, backend="reference").double()
    blocked = tiny(attention=make_pattern(name), positions=positions, backend="blocked").double()
    blocked.load_state_dict(reference.state_dict())
    ids = dna(2, 40)
    outs = []
    for model in (reference, blocked):
        out = model(ids)
        out.pow(2).sum().backward()
        outs.append((out.detach(), [p.grad for p in model.parameters()]))
    assert torch.allclose(outs[0][0], outs[1][0], atol=1e-10)
    for a, b in zip(outs[0][1], outs[1][1]):
        assert torch.allclose(a, b, atol=1e-9)
