"""xformers backend on CPU: the attn_bias it would pass is exactly the pattern, and refusals say why.

xformers has no CPU kernels (and the PyPI wheel's CUDA kernels do not load beside other torch versions), so the
kernel itself is not run here; its biases are materialised (``.materialize()``) and checked against the
pattern's dense mask, and attention with the materialised bias against the reference backend (float64,
tolerance 1e-12), gradients included.
"""

from __future__ import annotations

import math

import pytest
import torch

from genoattn.attention import dispatch
from genoattn.attention.backends.reference import backend as reference
from genoattn.attention.backends.xformers import backend, bias_for, extension_problem
from genoattn.attention.patterns import (
    BigBird,
    DilatedSlidingWindow,
    FixedFactorized,
    Full,
    Longformer,
    SlidingWindow,
    Strided,
)
from genoattn.errors import BackendUnavailableError

pytest.importorskip("xformers")

EXPRESSIBLE = [
    Full(),
    Full(causal=True),
    SlidingWindow(0),
    SlidingWindow(5),
    SlidingWindow(7, causal=True),
    DilatedSlidingWindow(4, dilation=1),
    FixedFactorized(8, summary=0),
    FixedFactorized(10, summary=0, causal=True),
]


def materialised(pattern, length, batch=1):
    """bool [B, L, L] visibility from the bias xformers would get (folded biases span B * L)."""
    bias, folded = bias_for(pattern, length, batch)
    if bias is None:
        return torch.ones(batch, length, length, dtype=torch.bool)
    if folded:
        full = bias.materialize((batch * length, batch * length)) == 0
        blocks = [full[i * length:(i + 1) * length, i * length:(i + 1) * length] for i in range(batch)]
        # nothing may cross batch entries
        assert int(full.sum()) == sum(int(b.sum()) for b in blocks)
        return torch.stack(blocks)
    return (bias.materialize((length, length)) == 0).expand(batch, length, length)


@pytest.mark.parametrize("pattern", EXPRESSIBLE, ids=str)
@pytest.mark.parametrize("length", [37, 64])
def test_bias_equals_dense_mask(pattern, length):
    visible = materialised(pattern, length, batch=2)
    assert torch.equal(visible, pattern.dense_mask(length, 1).expand(2, -1, -1))


@pytest.mark.parametrize("pattern", EXPRESSIBLE, ids=str)
def test_attention_with_materialised_bias_matches_reference(pattern):
    length, heads = 45, 3
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, heads, length, 8, generator=g, dtype=torch.float64, requires_grad=True)
               for _ in range(3))
    bias = torch.where(materialised(pattern, length, batch=2), 0.0, float("-inf")).double()  # [B, L, L]
    scores = q @ k.transpose(-1, -2) / math.sqrt(8) + bias.unsqueeze(1)
    out = torch.softmax(scores, dim=-1) @ v
    ref = reference.attend(q, k, v, pattern)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    grads = torch.autograd.grad(out.sum(), (q, k, v))
    ref_grads = torch.autograd.grad(ref.sum(), (q, k, v))
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "pattern",
    [Strided(4), FixedFactorized(8, summary=2), Longformer(4), BigBird(block_size=8), DilatedSlidingWindow(2, 2)],
    ids=str,
)
def test_refuses_inexpressible_patterns(pattern):
    q = torch.randn(1, 2, 64, 16, dtype=torch.float16)
    reason = backend.can_run(q, q, q, pattern)
    assert reason is not None and "no exact xformers attn_bias" in reason


def test_refuses_without_kernels_and_says_why():
    q = torch.randn(1, 2, 64, 16, dtype=torch.float16)
    reason = backend.can_run(q, q, q, SlidingWindow(4))
    assert reason is not None and "no xformers kernel takes these inputs" in reason
    assert "device=cpu" in reason  # xformers' own explanation
    problem = extension_problem()
    if problem is not None:  # the PyPI wheel beside another torch
        assert reason.startswith(problem)
    assert "ALiBi" in backend.can_run(q, q, q, SlidingWindow(4), torch.ones(2))
    with pytest.raises(BackendUnavailableError, match="xformers"):
        dispatch.attend(q, q, q, SlidingWindow(4), backend="xformers")
