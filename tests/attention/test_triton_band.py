"""The Triton band backend: band descriptions against the patterns' masks, kernels against the reference.

- ``Band.dense_mask`` of ``Pattern.local_bands`` (the kernels' view: per-class key runs) equals each pattern's
  ``dense_mask`` (CPU, always); Strided's two bands are disjoint and together its mask.
- The kernels under Triton's CPU interpreter (float32, fixed small tiles including unequal ones, ALiBi,
  causal, dilation, neighborhood edges, Strided's chained bands; lengths not multiples of any tile) against the
  float64 reference: outputs and gradients (dQ from its own kernel and by atomic adds) within 1e-4 absolute.
  Needs triton (a dev dependency); run in a subprocess because the interpreter must be chosen before triton is
  imported.
- Longformer (window and global tokens in the kernels) in the interpreter and on the GPU likewise.
- Every kernel variant compiles for sm_90 (Triton's compiler and ptxas, no GPU needed).
- On a GPU: bfloat16 and float32 against the float64 reference with the autotuned tiles (``gpu`` mark).
"""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch

from genoattn.attention.backends.triton_band import backend
from genoattn.attention.patterns import (
    BigBird,
    DilatedSlidingWindow,
    Full,
    Longformer,
    Neighborhood,
    SlidingWindow,
    Strided,
)
from genoattn.attention.patterns.band import Band

HAS_TRITON = importlib.util.find_spec("triton") is not None
BAND_PATTERNS = [
    SlidingWindow(0), SlidingWindow(3), SlidingWindow(4, causal=True), SlidingWindow(50),
    DilatedSlidingWindow(2, 3), DilatedSlidingWindow(3, 2, causal=True), DilatedSlidingWindow(1, 5),
    Neighborhood(1), Neighborhood(5), Neighborhood(3, 3), Neighborhood(7, 2),
]


@pytest.mark.parametrize("pattern", BAND_PATTERNS, ids=str)
@pytest.mark.parametrize("length", [21, 32, 47])
def test_band_dense_mask_equals_pattern_mask(pattern, length):
    (band,) = pattern.local_bands(length)
    assert torch.equal(band.dense_mask(length), pattern.dense_mask(length)[0])


@pytest.mark.parametrize("pattern", [Strided(4), Strided(3, causal=True), Strided(1), Strided(7)], ids=str)
@pytest.mark.parametrize("length", [5, 21, 40])
def test_local_bands_split_strided_into_disjoint_bands(pattern, length):
    window, residue = (band.dense_mask(length) for band in pattern.local_bands(length))
    assert not (window & residue).any()
    assert torch.equal(window | residue, pattern.dense_mask(length)[0])


@pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed (pip install -e '.[dev]')")
def test_kernels_compile_for_hopper():
    """The compiled path (Triton's compiler and ptxas for sm_90), which the interpreter never takes."""
    from genoattn.attention.kernels.compile_check import compile_all, variants

    assert compile_all(90) == len(variants())


def test_local_bands_of_other_patterns_is_none():
    assert Full().local_bands(32) is None
    assert BigBird(block_size=16, random_blocks=1).local_bands(32) is None
    assert Neighborhood(5, 2).local_bands(32) == (Band(dilation=2, kernel_size=5),)


def test_can_run_refusals():
    q = torch.zeros(1, 2, 64, 16)
    assert "not a band pattern" in backend.can_run(q, q, q, Full())
    assert "dilation per head" in backend.can_run(q, q, q, Longformer(4, dilation=(1, 2)))
    reason = backend.can_run(q, q, q, SlidingWindow(4))
    if os.environ.get("TRITON_INTERPRET") != "1":
        assert reason in ("triton is not installed",) or "CUDA" in reason
    odd = torch.zeros(1, 2, 64, 24)
    if HAS_TRITON and os.environ.get("TRITON_INTERPRET") == "1":
        assert "power of two" in backend.can_run(odd, odd, odd, SlidingWindow(4))


def test_can_run_refuses_global_tokens_when_deterministic():
    q = torch.zeros(1, 2, 64, 16)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        assert "atomic adds" in backend.can_run(q, q, q, Longformer(4, global_tokens=(0,)))
    finally:
        torch.use_deterministic_algorithms(previous)


@pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed (pip install -e '.[dev]')")
def test_kernels_match_reference_in_interpreter(run_interpreted):
    cases = run_interpreted("triton_band_interpret.py")
    # band patterns (Strided: two chained bands), Longformer, autotuned over two tile sizes, compiled
    assert len(cases) == 9 + 5 + 3 + 2
    for case in cases:
        errors = [case["out"], *case["grads"]]
        if "atomic_grads" in case:
            errors += [*case["atomic_grads"], case["auto_out"], *case["auto_grads"]]
        elif "fixed_out" in case:
            errors += [case["fixed_out"], *case["fixed_grads"]]
        assert max(errors) < 1e-4, case


GPU_CASES = [
    (Longformer(256, global_tokens=(0, 1500, -1)), 3000, None),
    (Longformer(64, (5,), dilation=2, causal=True), 999, None),
    (SlidingWindow(256), 3000, None), (SlidingWindow(100, causal=True), 1000, None),
    (DilatedSlidingWindow(128, 2), 3001, None), (DilatedSlidingWindow(20, 3, causal=True), 999, None),
    (Neighborhood(255, 2), 3000, None), (Neighborhood(31), 1000, None), (SlidingWindow(64), 2000, "alibi"),
    (Strided(64), 3000, None), (Strided(50, causal=True), 1999, "alibi"),
]
FLOAT32_CASES = {"Longformer(window=256, global_tokens=(0, 1500, -1))", "SlidingWindow(window=256)",
                 "Strided(stride=64)", "Neighborhood(kernel_size=255, dilation=2)", "SlidingWindow(window=64)"}
GPU_PARAMS = [(*case, torch.bfloat16) for case in GPU_CASES] + [
    (*case, torch.float32) for case in GPU_CASES if str(case[0]) in FLOAT32_CASES  # each dtype compiles anew
]


def reference_case(pattern, length: int, bias: str | None, heads: int, seed: int) -> tuple:
    """Random float64 q, k, v, output gradient and ALiBi slopes (or None) on the GPU, and the reference's output
    and gradients for them."""
    from genoattn.attention.backends.reference import backend as reference

    torch.manual_seed(seed)
    q, k, v, grad = (torch.randn(1, heads, length, 64, device="cuda", dtype=torch.float64) for _ in range(4))
    slopes = torch.linspace(0.01, 0.2, heads, device="cuda", dtype=torch.float64) if bias else None
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    expected = reference.attend(*leaves, pattern, slopes)
    return q, k, v, grad, slopes, expected, torch.autograd.grad(expected, leaves, grad)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or not HAS_TRITON, reason="needs a CUDA GPU and triton")
@pytest.mark.parametrize(("pattern", "length", "bias", "dtype"), GPU_PARAMS, ids=str)
def test_gpu_matches_reference(pattern, length, bias, dtype):
    q, k, v, grad, slopes, expected, expected_grads = reference_case(pattern, length, bias, heads=8, seed=0)
    assert backend.can_run(q.to(dtype), k.to(dtype), v.to(dtype), pattern) is None
    low = [t.to(dtype).requires_grad_() for t in (q, k, v)]
    out = backend.attend(*low, pattern, slopes.float() if bias else None)
    grads = torch.autograd.grad(out, low, grad.to(dtype))
    out_tol, grad_tol = {torch.bfloat16: (1.5e-2, 3e-2), torch.float32: (1e-4, 2e-4)}[dtype]

    def rel(a, b):
        return ((a.double() - b).norm() / b.norm()).item()

    assert rel(out, expected) < out_tol
    for got, want in zip(grads, expected_grads):
        assert rel(got, want) < grad_tol
    # a second call launches the cached compiled kernels directly (run_kernel's fast path): same bits, except
    # Longformer's global-key gradients, summed by atomic adds in no fixed order
    again = backend.attend(*low, pattern, slopes.float() if bias else None)
    assert torch.equal(again, out)
    for first, second in zip(grads, torch.autograd.grad(again, low, grad.to(dtype))):
        if isinstance(pattern, Longformer):
            assert rel(second, first.double()) < 1e-3
        else:
            assert torch.equal(first, second)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or not HAS_TRITON, reason="needs a CUDA GPU and triton")
@pytest.mark.parametrize("one_loop", [False, True])
@pytest.mark.parametrize(("pattern", "length", "bias"), [
    (DilatedSlidingWindow(128, 2), 3001, None), (Neighborhood(255, 2), 3000, None), (Strided(64), 3000, None),
    (Longformer(256, global_tokens=(0, 1500, -1)), 3000, None), (SlidingWindow(64, causal=True), 2000, "alibi"),
], ids=str)
def test_gpu_both_walks(pattern, length, bias, one_loop):
    """Both tile walks, fixed tiles (bfloat16): three loops (masks only in the end loops) and one loop (masks end
    tiles by a run-time test), against the float64 reference."""
    from genoattn.attention.backends.triton_band import _global_tokens
    from genoattn.attention.kernels.band_launch import band_backward, band_forward

    q, k, v, grad, slopes, expected, expected_grads = reference_case(pattern, length, bias, heads=4, seed=3)
    low = [t.bfloat16() for t in (q, k, v)]
    bands = pattern.local_bands(length)
    tokens = _global_tokens(pattern, length, q.device) if isinstance(pattern, Longformer) else None
    alibi = slopes.float() if bias else None
    out, lse, row_lse = band_forward(*low, bands, alibi, blocks=(64, 64, one_loop), tokens=tokens)
    grads = band_backward(grad.bfloat16(), *low, out, lse, bands, alibi, atomic_dq=False, tokens=tokens,
                          blocks=((16, 64, one_loop), (64, 64, one_loop)), row_lse=row_lse)
    for got, want, tol in zip((out, *grads), (expected, *expected_grads), (1.5e-2, 3e-2, 3e-2, 3e-2)):
        assert ((got.double() - want).norm() / want.norm()).item() < tol


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or not HAS_TRITON, reason="needs a CUDA GPU and triton")
def test_gpu_strided_views():
    """q, k, v as views into one projection [B, L, 3, H, D] (row stride 3 * H * D), as a model produces them."""
    from genoattn.attention.backends.reference import backend as reference

    torch.manual_seed(2)
    pattern = DilatedSlidingWindow(32, 2)
    qkv = torch.randn(1, 1500, 3, 8, 64, device="cuda", dtype=torch.bfloat16)
    q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))  # [B, H, L, D], non-contiguous
    assert not q.is_contiguous() and backend.can_run(q, k, v, pattern) is None
    expected = reference.attend(q.double(), k.double(), v.double(), pattern)
    for _ in range(2):  # the second call takes the fast launch path
        out = backend.attend(q, k, v, pattern)
        assert ((out.double() - expected).norm() / expected.norm()).item() < 1.5e-2


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or not HAS_TRITON, reason="needs a CUDA GPU and triton")
@pytest.mark.parametrize("mode", ["0", "1", "auto"])
@pytest.mark.parametrize("pattern", [SlidingWindow(256), Neighborhood(63, 3)], ids=str)
def test_gpu_dq_modes(pattern, mode, monkeypatch):
    """dQ from its own kernel, by atomic adds, or the timed choice: the same gradients (bfloat16)."""
    from genoattn.attention.kernels import band_launch

    monkeypatch.setattr(band_launch, "ATOMIC_DQ", mode)
    torch.manual_seed(1)
    q, k, v, grad = (torch.randn(1, 8, 2500, 64, device="cuda", dtype=torch.float64) for _ in range(4))
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    from genoattn.attention.backends.reference import backend as reference

    expected_grads = torch.autograd.grad(reference.attend(*leaves, pattern), leaves, grad)
    low = [t.bfloat16().requires_grad_() for t in (q, k, v)]
    grads = torch.autograd.grad(backend.attend(*low, pattern), low, grad.bfloat16())
    for got, want in zip(grads, expected_grads):
        assert ((got.double() - want).norm() / want.norm()).item() < 3e-2
