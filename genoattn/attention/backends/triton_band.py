"""Triton band backend: SlidingWindow, DilatedSlidingWindow, Neighborhood, Longformer, Strided on hand-written kernels.

These patterns see one contiguous run of keys per query (within its residue class), or a few such runs over
disjoint keys, so a kernel can walk exactly that run, read dilated classes with strided loads (no permuted copies)
and mask only the tiles at the run's ends; see ``genoattn.attention.kernels.band_triton`` (kernels),
``kernels.band_launch`` (launching them, tiles autotuned per shape) and ``kernels.ops`` (the custom op
``genoattn::band_attention`` with its fake implementation and gradient, which ``torch.compile`` traces). Longformer
(one dilation for every head) is its window's band plus its global tokens as extra rows and columns inside the same
kernels; Strided is two bands (``band_passes``: its window, then its residue class mod the stride), chained through
the output and log-sum-exp.

Runs on CUDA with triton installed (and on CPU under ``TRITON_INTERPRET=1``, Triton's interpreter, which the
tests use; too slow for real work, so ``auto`` never picks it there). float16 / bfloat16 / float32; head_dim
a power of two in 16..256; tensors below 2**31 elements (32-bit offsets).
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from genoattn.attention.kernels.band import GlobalTokens, band_of, band_passes, longformer_band
from genoattn.attention.kernels.launch import TritonBackend, tensor_reason
from genoattn.attention.patterns import Longformer


@lru_cache(maxsize=64)
def _global_tokens(pattern: Longformer, length: int, device: torch.device) -> GlobalTokens:
    """The pattern's global tokens on ``device``, made once per (pattern, length, device): no host-to-device
    copy on every call."""
    return GlobalTokens(pattern.global_positions(length).to(device=device, dtype=torch.int32), pattern.causal)


@torch.compiler.assume_constant_result
def _token_positions(pattern: Longformer, length: int, device: torch.device) -> Tensor:
    """The global tokens' positions (int32 on ``device``); a constant of a graph ``torch.compile`` traces."""
    return _global_tokens(pattern, length, device).positions


class TritonBandBackend(TritonBackend):
    name = "triton_band"

    def can_run(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: object, alibi_slopes: Tensor | None = None
    ) -> str | None:
        band = band_of(pattern)
        if band is None and type(pattern) is Longformer:
            if longformer_band(pattern) is None:
                return "Longformer with a different dilation per head (the band kernels take one per call)"
            if pattern.global_tokens and torch.are_deterministic_algorithms_enabled():
                return ("torch.use_deterministic_algorithms(True): the global tokens' gradients are summed by "
                        "atomic adds")
            parts = q.shape[0] * q.shape[1] * len(pattern.global_tokens) * (q.shape[2] // 16 + 2) * (q.shape[3] + 2)
            if parts * 4 > 2**32:
                return (f"{len(pattern.global_tokens)} global tokens: their rows' partial results would take "
                        f"{parts * 4 / 2**30:.1f} GiB")
        elif band_passes(pattern, q.shape[2]) is None:
            return (f"{type(pattern).__name__} is not a band pattern (SlidingWindow, DilatedSlidingWindow, "
                    "Neighborhood, Longformer, Strided)")
        reason = tensor_reason(q, k, v)
        if reason:
            return reason
        if band is not None and band.neighborhood:
            pattern.check_length(q.shape[2])
        if type(pattern) is Longformer:
            pattern.global_positions(q.shape[2])  # raises InputError for a global token outside the sequence
        return None

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: object, alibi_slopes: Tensor | None = None
    ) -> Tensor:
        from genoattn.attention.kernels import band_launch, ops

        bands = band_passes(pattern, q.shape[2])
        longformer = type(pattern) is Longformer
        if torch.compiler.is_compiling() or (torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))):
            positions = _token_positions(pattern, q.shape[2], q.device) if longformer else None
            return ops.band_attention(q, k, v, ops.bands_to_ints(bands), alibi_slopes, positions,
                                      longformer and pattern.causal)[0]
        tokens = _global_tokens(pattern, q.shape[2], q.device) if longformer else None
        return band_launch.band_forward(q, k, v, bands, alibi_slopes, tokens=tokens)[0]  # no op dispatch


backend = TritonBandBackend()
