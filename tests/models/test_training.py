"""The model learns: a tiny model overfits a fixed batch; bf16 autocast runs forward and backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genoattn.attention.patterns import SlidingWindow
from genoattn.data.vocab import MASK, T


def _codon_labels(ids: torch.Tensor) -> torch.Tensor:
    """A learnable per-nucleotide target: 1 where the base or its left neighbour is T."""
    is_t = ids == T
    return (is_t | F.pad(is_t, (1, 0))[:, :-1]).long()


@pytest.mark.parametrize("patch_size", [1, 4])
def test_tiny_model_overfits_a_fixed_batch(tiny, dna, patch_size):
    model = tiny(d_model=32, num_heads=4, attention=SlidingWindow(window=4), patch_size=patch_size)
    ids = dna(4, 64)
    labels = _codon_labels(ids)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = F.cross_entropy(model(ids).reshape(-1, 2), labels.reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    accuracy = (model.eval()(ids).argmax(-1) == labels).float().mean()
    assert accuracy > 0.9


def test_mlm_loss_decreases(tiny, dna):
    model = tiny(task="mlm", d_model=32, num_heads=4, attention=SlidingWindow(window=4))
    ids = dna(4, 48)
    masked = ids.clone()
    masked[:, ::5] = MASK
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(masked).reshape(-1, model.num_classes), ids.reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("positions", ["rotary", "alibi"])
@pytest.mark.parametrize("task", ["token_classification", "sequence_classification"])
def test_bf16_autocast_forward_backward(tiny, dna, positions, task):
    model = tiny(task=task, positions=positions, patch_size=2, attention=SlidingWindow(window=3))
    ids = dna(2, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(ids)
    assert out.dtype == torch.bfloat16  # no fp32 ops forced on the hot path's output
    out.float().pow(2).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        reference = model(ids)
    assert torch.allclose(out.float(), reference, atol=0.1)  # bf16 agrees with fp32 roughly
