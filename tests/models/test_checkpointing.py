"""Activation checkpointing recomputes blocks without changing outputs or gradients."""

from __future__ import annotations

import pytest
import torch

from genoattn.attention.patterns import SlidingWindow
from genoattn.models import PerformerSpec, RoutingSpec


@pytest.mark.parametrize("dropout", [0.0, 0.2])
@pytest.mark.parametrize("patch_size", [1, 2])
def test_checkpointing_gives_the_same_gradients(tiny, dna, dropout, patch_size):
    kwargs = dict(attention=SlidingWindow(window=3), dropout=dropout, patch_size=patch_size, num_layers=3)
    plain = tiny(**kwargs)
    checkpointed = tiny(checkpointing=True, **kwargs)
    checkpointed.load_state_dict(plain.state_dict())
    ids = dna(2, 24)
    results = []
    for model in (plain, checkpointed):
        model.train()
        torch.manual_seed(123)  # same dropout masks in both runs (checkpoint replays the RNG state)
        out = model(ids)
        out.pow(2).mean().backward()
        results.append((out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (out_a, grads_a), (out_b, grads_b) = results
    assert torch.allclose(out_a, out_b, atol=1e-6)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        assert torch.allclose(grads_a[name], grads_b[name], atol=1e-6, rtol=1e-5), name


def test_stateful_attention_is_not_recomputed(tiny, dna):
    """Routing's EMA step and Performer's redraws change state per pass: those blocks are not checkpointed,
    so outputs, gradients and the updated state match a model without checkpointing."""
    specs = [RoutingSpec(num_clusters=2, window=6, ema_decay=0.5, seed=0),
             PerformerSpec(num_features=8, redraw_interval=1, seed=0), SlidingWindow(window=2)]
    plain = tiny(attention=specs, num_layers=3)
    checkpointed = tiny(attention=specs, num_layers=3, checkpointing=True)
    checkpointed.load_state_dict(plain.state_dict())
    assert checkpointed.encoder.checkpointed == [False, False, True]
    ids = dna(2, 24)
    for model in (plain, checkpointed):
        for _ in range(2):  # the second pass redraws the Performer projection
            model.zero_grad()
            model(ids).pow(2).mean().backward()
    for (name, a), b in zip(plain.named_parameters(), checkpointed.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6, rtol=1e-5), name
    for (name, a), b in zip(plain.named_buffers(), checkpointed.buffers()):
        assert torch.equal(a, b), name


def test_checkpointing_is_off_in_eval_and_no_grad(tiny, dna, monkeypatch):
    import genoattn.models.encoder as encoder_module

    calls = []
    monkeypatch.setattr(encoder_module, "checkpoint", lambda fn, *a, **k: calls.append(1) or fn(*a))
    model = tiny(checkpointing=True)
    model.train()
    model(dna(1, 8))
    assert len(calls) == 2  # one per block
    model.eval()
    model(dna(1, 8))
    with torch.no_grad():
        model.train()
        model(dna(1, 8))
    assert len(calls) == 2
