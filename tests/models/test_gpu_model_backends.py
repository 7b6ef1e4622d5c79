"""GPU-only: a GenomeTransformer with ``backend="auto"`` trains through the fast kernels (triton_band,
triton_blocks, sdpa_parts), and its outputs and parameter gradients agree with the same model on the float64
``reference`` backend.

Model: 2 layers, d_model 128, 2 heads (head_dim 64), patch stem 4, 2,048 nucleotides (512 tokens), bf16 autocast
for the fast run. Error metric ||x - ref|| / ||ref|| over the logits and over all parameter gradients together
(loss = sum(logits * g), g fixed). Tolerances as bf16 attention tests (tests/attention/test_gpu.py) with room for
the bf16 matmuls of the whole model: logits 3e-2, gradients 6e-2.
"""

from __future__ import annotations

import copy

import pytest
import torch

from genoattn.attention import dispatch
from genoattn.attention.patterns import (
    BigBird,
    DilatedSlidingWindow,
    FixedFactorized,
    Full,
    Longformer,
    Neighborhood,
    SlidingWindow,
    Strided,
)
from genoattn.models import GenomeTransformer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

CASES = [  # pattern, the backend auto must reach in training
    (SlidingWindow(32), "triton_band"),
    (DilatedSlidingWindow(16, dilation=2), "triton_band"),
    (Neighborhood(kernel_size=33, dilation=2), "triton_band"),
    (Longformer(32, global_tokens=(0,)), "triton_band"),
    (Strided(32), "triton_band"),
    (BigBird(block_size=32, random_blocks=2, seed=0), "triton_blocks"),
    (FixedFactorized(64, summary=4), "sdpa_parts"),
    (Full(), "sdpa_parts"),
]
NUCLEOTIDES, PATCH = 2048, 4


def _model(pattern: object, backend: str) -> GenomeTransformer:
    torch.manual_seed(0)
    return GenomeTransformer(num_classes=2, d_model=128, num_layers=2, num_heads=2, mlp_ratio=2.0, dropout=0.0,
                             attention=pattern, backend=backend, patch_size=PATCH)


def _rel(x: torch.Tensor, ref: torch.Tensor) -> float:
    return float((x.double() - ref).norm() / ref.norm())


@pytest.mark.parametrize("pattern,expected", CASES, ids=[type(p).__name__ for p, _ in CASES])
def test_auto_backend_in_training_matches_reference(pattern, expected, monkeypatch):
    device = torch.device("cuda")
    fast = _model(pattern, "auto").to(device)
    slow = copy.deepcopy(fast).double()
    for block in slow.encoder.blocks:
        block.attn.backend = "reference"
    ids = torch.randint(1, 5, (2, NUCLEOTIDES), device=device, generator=torch.Generator(device).manual_seed(1))

    chosen: list[str] = []
    original = dispatch.choose_backend

    def record(*args, **kwargs):
        backend = original(*args, **kwargs)
        chosen.append(backend.name)
        return backend

    monkeypatch.setattr(dispatch, "choose_backend", record)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = fast(ids)
    grad_out = torch.randn(logits.shape, device=device, generator=torch.Generator(device).manual_seed(2))
    (logits.float() * grad_out).sum().backward()
    assert chosen and set(chosen) == {expected}, chosen

    ref_logits = slow(ids)
    (ref_logits * grad_out.double()).sum().backward()
    assert _rel(logits.float(), ref_logits.detach()) < 3e-2
    grads = torch.cat([p.grad.flatten().double() for p in fast.parameters() if p.grad is not None])
    ref_grads = torch.cat([p.grad.flatten() for p in slow.parameters() if p.grad is not None])
    assert grads.shape == ref_grads.shape
    assert _rel(grads, ref_grads) < 6e-2
