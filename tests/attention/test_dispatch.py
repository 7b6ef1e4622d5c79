"""``attend`` backend choice: auto order, logged refusals, explicit backends that cannot run."""

from __future__ import annotations

import logging

import pytest
import torch

from genoattn.attention import dispatch
from genoattn.attention.backends.reference import backend as reference
from genoattn.attention.patterns import SlidingWindow, Strided
from genoattn.errors import BackendUnavailableError, InputError


def qkv(dtype=torch.float32, grad=False, length=64):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(1, 2, length, 16, generator=g, dtype=dtype).requires_grad_(grad) for _ in range(3)]


def test_auto_on_cpu_skips_flex_and_xformers_with_reasons(caplog):
    q, k, v = qkv(grad=True)
    with caplog.at_level(logging.DEBUG, logger="genoattn.attention.dispatch"):
        chosen = dispatch.choose_backend(q, k, v, SlidingWindow(3))
    assert chosen.name in ("blocked", "reference")
    text = caplog.text
    assert "flex: FlexAttention has no backward on CPU" in text
    assert "xformers:" in text
    assert f"chose {chosen.name}" in text


def test_auto_does_not_pick_flex_on_cpu_even_without_grad(caplog):
    q, k, v = qkv()
    with torch.no_grad(), caplog.at_level(logging.DEBUG, logger="genoattn.attention.dispatch"):
        chosen = dispatch.choose_backend(q, k, v, SlidingWindow(3))
    assert chosen.name != "flex"
    assert "auto uses FlexAttention only on CUDA" in caplog.text


def test_auto_result_equals_reference():
    q, k, v = qkv(dtype=torch.float64, grad=True)
    out = dispatch.attend(q, k, v, Strided(5))
    torch.testing.assert_close(out, reference.attend(q, k, v, Strided(5)))
    out.sum().backward()
    assert q.grad is not None


def test_auto_choice_is_announced_once_at_info(caplog):
    q, k, v = qkv()
    pattern = SlidingWindow(11)
    dispatch._announced.clear()
    with caplog.at_level(logging.INFO, logger="genoattn.attention.dispatch"):
        dispatch.choose_backend(q, k, v, pattern)
        dispatch.choose_backend(q, k, v, pattern)
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1 and "skipped triton_band, triton_blocks, sdpa_parts, flex, xformers" in infos[0].getMessage()


@pytest.mark.parametrize(
    ("name", "dtype", "grad", "message"),
    [
        ("flex", torch.float32, True, "no backward on CPU"),
        ("flex", torch.float64, False, "float16/bfloat16/float32"),
        ("xformers", torch.float16, False, "xformers"),
    ],
)
def test_named_backend_that_cannot_run_raises_with_reason(name, dtype, grad, message):
    q, k, v = qkv(dtype=dtype, grad=grad)
    with pytest.raises(BackendUnavailableError, match=message) as info:
        dispatch.attend(q, k, v, SlidingWindow(3), backend=name)
    assert f"backend {name!r} cannot run" in str(info.value)


def test_reference_refuses_huge_lengths_when_named():
    q = torch.empty(1, 1, 2**15, 16, device="meta")
    with pytest.raises(BackendUnavailableError, match="L x L mask"):
        dispatch.choose_backend(q, q, q, SlidingWindow(3), backend="reference")


def test_unknown_backend_and_bad_shapes():
    q, k, v = qkv()
    with pytest.raises(InputError, match="unknown attention backend"):
        dispatch.attend(q, k, v, SlidingWindow(3), backend="cuda-magic")
    with pytest.raises(InputError, match="batch, heads, length, head_dim"):
        dispatch.attend(q[0], k[0], v[0], SlidingWindow(3))
