"""Rotary and ALiBi positions: formulas, relative behaviour, and extrapolation to longer inputs."""

from __future__ import annotations

import math

import pytest
import torch

from genoattn.attention.patterns import Full, SlidingWindow
from genoattn.models import RotaryEmbedding, alibi_slopes


def test_alibi_slopes_power_of_two():
    # Press et al.: 8 heads -> 1/2, 1/4, ..., 1/256
    assert torch.allclose(alibi_slopes(8), torch.tensor([2.0 ** -(i + 1) for i in range(8)]))
    assert torch.allclose(alibi_slopes(4), torch.tensor([2.0 ** (-2 * (i + 1)) for i in range(4)]))


def test_alibi_slopes_other_head_counts():
    # 6 heads: the 4-head slopes, then every other slope of the 8-head sequence (1/2, 1/8)
    expected = [0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125]
    assert torch.allclose(alibi_slopes(6), torch.tensor(expected))
    assert alibi_slopes(1).tolist() == [2.0**-8]


def test_rotary_scores_depend_only_on_offset():
    rotary = RotaryEmbedding(8)
    q0 = torch.randn(8, dtype=torch.float64)
    k0 = torch.randn(8, dtype=torch.float64)
    length = 40
    q = q0.expand(1, 1, length, 8).float()
    k = k0.expand(1, 1, length, 8).float()
    rq, rk = rotary(q, k)
    scores = (rq @ rk.transpose(-1, -2))[0, 0].double()  # [L, L]
    for offset in (0, 3, -5, 17):
        diagonal = torch.diagonal(scores, offset)
        assert torch.allclose(diagonal, diagonal[0].expand_as(diagonal), atol=1e-4)
    assert torch.allclose(rq.norm(dim=-1), q.norm(dim=-1), atol=1e-5)  # a rotation keeps norms


def test_rotary_at_position_zero_is_identity():
    rotary = RotaryEmbedding(4)
    q, k = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 4)
    rq, rk = rotary(q, k)
    assert torch.equal(rq[:, :, 0], q[:, :, 0]) and torch.equal(rk[:, :, 0], k[:, :, 0])
    assert not torch.allclose(rq[:, :, 1:], q[:, :, 1:])


@pytest.mark.parametrize("positions", ["rotary", "alibi"])
@pytest.mark.parametrize("patch_size", [1, 4])
def test_local_outputs_are_translation_invariant(tiny, dna, positions, patch_size):
    """Relative positions: with a local pattern, interior outputs of a 2L input equal those of its
    L-long halves (the receptive field stays inside), so a model trained at L predicts at 2L."""
    length = 64
    model = tiny(attention=SlidingWindow(window=2), positions=positions, patch_size=patch_size).eval()
    ids = dna(2, 2 * length)
    with torch.no_grad():
        long = model(ids)
        second_half = model(ids[:, length:])
    margin = 24  # > receptive field: 2 layers x window 2 x patch 4, plus the stem/upsample convs
    assert torch.allclose(long[:, length + margin : 2 * length - margin], second_half[:, margin:-margin], atol=1e-5)


@pytest.mark.parametrize("positions", ["rotary", "alibi", "none"])
def test_train_short_predict_long_is_deterministic(tiny, dna, positions):
    model = tiny(attention=Full(), positions=positions, dropout=0.1)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
    labels = torch.randint(0, 2, (4, 32))
    for _ in range(3):  # a few training steps at L = 32
        loss = torch.nn.functional.cross_entropy(model(dna(4, 32)).reshape(-1, 2), labels.reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    ids = dna(2, 64)
    with torch.no_grad():
        first, second = model(ids), model(ids)
    assert first.shape == (2, 64, 2)
    assert torch.isfinite(first).all()
    assert torch.equal(first, second)


def test_rotary_cache_follows_length():
    rotary = RotaryEmbedding(4)
    cos_a, _ = rotary.cos_sin(8, torch.device("cpu"))
    cos_b, _ = rotary.cos_sin(16, torch.device("cpu"))
    assert cos_a.shape == (8, 4) and cos_b.shape == (16, 4)
    assert torch.equal(cos_b[:8], cos_a)
    assert math.isclose(float(cos_b[1, 0]), math.cos(1.0), rel_tol=1e-6)
