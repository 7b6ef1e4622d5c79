"""Triton band backend: SlidingWindow, DilatedSlidingWindow, Neighborhood, Longformer, Strided on hand-written kernels.

These patterns see one contiguous run of keys per query (within its residue class), or a few such runs over
disjoint keys, so a kernel can walk exactly that run, read dilated classes with strided loads (no permuted copies)
and mask only the tiles at the run's ends; see ``genoattn.attention.kernels.band_triton`` (kernels),
``kernels.band_launch`` (launching them, tiles autotuned per shape) and ``kernels.ops`` (the custom op
``genoattn::band_attention`` with its fake implementation and gradient, which ``torch.compile`` traces). Longformer
(one dilation for every head) is its window's band plus its global tokens as extra rows and columns inside the same
kernels; Strided is two bands (``Pattern.local_bands``: its window, then its residue class mod the stride),
chained through the output and log-sum-exp.

Runs on CUDA with triton installed (and on CPU under ``TRITON_INTERPRET=1``, Triton's interpreter, which the
tests use; too slow for real work, so ``auto`` never picks it there). float16 / bfloat16 / float32; head_dim
a power of two in 16..256; tensors below 2**31 elements (32-bit offsets).
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from genoattn.attention.kernels.band import GlobalTokens
from genoattn.attention.kernels.launch import TritonBackend, tensor_reason
from genoattn.attention.patterns import Longformer, Pattern


@lru_cache(maxsize=64)
def _positions_on(pattern: Pattern, length: int, device: torch.device) -> Tensor:
    """int32 [G] on ``device``: the pattern's global positions (may be empty), copied there once per (pattern,
    length, device)."""
    return pattern.global_positions(length).to(device=device, dtype=torch.int32)


@lru_cache(maxsize=64)
def _global_tokens(pattern: Pattern, length: int, device: torch.device) -> GlobalTokens | None:
    """The pattern's global tokens on ``device`` (None when it has none), made once per (pattern, length, device):
    no host-to-device copy on every call."""
    positions = _positions_on(pattern, length, device)
    return GlobalTokens(positions, pattern.causal) if positions.numel() else None


@torch.compiler.assume_constant_result
def _token_positions(pattern: Pattern, length: int, device: torch.device) -> Tensor:
    """The global positions (int32 on ``device``, may be empty); a constant of a graph ``torch.compile`` traces."""
    return _positions_on(pattern, length, device)


class TritonBandBackend(TritonBackend):
    name = "triton_band"

    def can_run(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None
    ) -> str | None:
        length = q.shape[2]
        if pattern.local_bands(length) is None:
            if isinstance(pattern, Longformer):  # the one pattern whose parameters decide whether it is a band
                return "Longformer with a different dilation per head (the band kernels take one per call)"
            return (f"{type(pattern).__name__} is not a band pattern (SlidingWindow, DilatedSlidingWindow, "
                    "Neighborhood, Longformer, Strided)")
        # raises InputError for a length the pattern is not defined at, or a global token outside the sequence
        count = pattern.global_positions(length).numel()
        if count and torch.are_deterministic_algorithms_enabled():
            return "torch.use_deterministic_algorithms(True): the global tokens' gradients are summed by atomic adds"
        parts = q.shape[0] * q.shape[1] * count * (length // 16 + 2) * (q.shape[3] + 2)
        if parts * 4 > 2**32:
            return f"{count} global tokens: their rows' partial results would take {parts * 4 / 2**30:.1f} GiB"
        return tensor_reason(q, k, v)

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None
    ) -> Tensor:
        from genoattn.attention.kernels import band_launch, ops

        length = q.shape[2]
        bands = pattern.local_bands(length)
        assert bands is not None, "can_run refuses patterns without bands"
        if torch.compiler.is_compiling() or (torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))):
            positions = _token_positions(pattern, length, q.device)
            return ops.band_attention(q, k, v, ops.bands_to_ints(bands), alibi_slopes,
                                      positions if positions.numel() else None, pattern.causal)[0]
        tokens = _global_tokens(pattern, length, q.device)
        return band_launch.band_forward(q, k, v, bands, alibi_slopes, tokens=tokens)[0]  # no op dispatch


backend = TritonBandBackend()
