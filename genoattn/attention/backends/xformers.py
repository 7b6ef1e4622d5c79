"""xformers backend: ``memory_efficient_attention`` with the attn_bias that expresses the pattern exactly.

Expressible patterns (everything else is refused with the reason):
- ``Full()``: no bias; ``Full(causal=True)``: ``LowerTriangularMask``;
- a plain window (one band of dilation 1 and no global tokens: ``SlidingWindow(w)``, ``DilatedSlidingWindow(w,
  dilation=1)``, a Longformer without global tokens): ``LocalAttentionFromBottomRightMask(w, w)``, causal
  ``LocalAttentionFromBottomRightMask(w, 0)`` (q and k have one length, so bottom-right = top-left);
- ``FixedFactorized(block=l, summary=0)``: block-diagonal, ``BlockDiagonalMask`` over blocks of l (causal:
  ``BlockDiagonalCausalMask``); the batch is folded into one concatenated sequence.

xformers is imported lazily. The PyPI wheel (0.0.35) is built for one torch (2.10 + CUDA 12.8); beside another
torch it imports with a warning and none of its kernels run. ``can_run`` asks xformers' own dispatcher whether
some kernel takes these inputs (device, dtype, head_dim, bias, gradient) and returns its answer as the reason.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor

from genoattn.attention.patterns import FixedFactorized, Full, Pattern


def load_xformers():
    """(xformers module, fmha module) or raise ImportError; the import warning is kept out of the logs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import logging

        xf_logger = logging.getLogger("xformers")
        level = xf_logger.level
        xf_logger.setLevel(logging.ERROR)
        try:
            import xformers
            import xformers.ops.fmha as fmha
        finally:
            xf_logger.setLevel(level)
    return xformers, fmha


def extension_problem() -> str | None:
    """Why xformers' compiled extensions did not load (None when they did or cannot be told)."""
    try:
        xformers, _ = load_xformers()
    except ImportError as exc:
        return f"xformers is not installed ({exc})"
    if getattr(xformers, "_has_cpp_library", True):
        return None
    error = getattr(getattr(xformers, "_cpp_lib", None), "_cpp_library_load_exception", None)
    detail = _one_line(str(error), 300) if error is not None else "unknown error"
    return f"xformers {xformers.__version__} C++/CUDA extensions did not load with torch {torch.__version__}: {detail}"


def _plain_window(pattern: Pattern, length: int) -> tuple[int, int] | None:
    """(keys to the left, keys to the right) when the pattern is one window of dilation 1, else None."""
    bands = pattern.local_bands(length)
    if bands is None or len(bands) != 1:
        return None
    band = bands[0]
    if band.dilation != 1 or band.neighborhood or band.hole >= 0 or pattern.global_positions(length).numel():
        return None
    return band.left, band.right


def bias_for(pattern: Pattern, length: int, batch: int = 1):
    """(attn_bias or None, folded) for ``pattern``, or raise ValueError saying why it is not expressible.

    ``folded`` is True for block-diagonal biases, which take the batch as one concatenated sequence.
    """
    _, fmha = load_xformers()
    ab = fmha.attn_bias
    causal = pattern.causal
    if type(pattern) is Full:
        return (ab.LowerTriangularMask() if causal else None), False
    window = _plain_window(pattern, length)
    if window is not None:
        return ab.LocalAttentionFromBottomRightMask(window_left=window[0], window_right=window[1]), False
    if type(pattern) is FixedFactorized and pattern.summary == 0:
        l = pattern.block
        seqlens = [l] * (length // l) + ([length % l] if length % l else [])
        cls = ab.BlockDiagonalCausalMask if causal else ab.BlockDiagonalMask
        return cls.from_seqlens(seqlens * batch), True
    raise ValueError(
        f"{pattern} has no exact xformers attn_bias (expressible: Full, a window of dilation 1 without global "
        "tokens such as SlidingWindow, FixedFactorized with summary=0)"
    )


def _bmhk(x: Tensor, folded: bool) -> Tensor:
    x = x.transpose(1, 2)  # [B, L, H, D]
    return x.reshape(1, -1, *x.shape[2:]) if folded else x  # folded: [1, B * L, H, D]


def _one_line(message: str, limit: int = 500) -> str:
    text = "; ".join(part.strip() for part in message.splitlines() if part.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class XformersBackend:
    name = "xformers"

    def can_run(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None
    ) -> str | None:
        try:
            _, fmha = load_xformers()
        except ImportError as exc:
            return f"xformers is not installed ({exc})"
        if alibi_slopes is not None:
            return "xformers' exact pattern biases cannot add ALiBi slopes"
        try:
            bias, folded = bias_for(pattern, q.shape[2], q.shape[0])
        except ValueError as exc:
            return str(exc)
        needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
        inp = fmha.Inputs(query=_bmhk(q, folded), key=_bmhk(k, folded), value=_bmhk(v, folded), attn_bias=bias,
                          scale=1 / math.sqrt(q.shape[-1]))
        try:
            fmha.dispatch._dispatch_fw(inp, needs_grad)
            if needs_grad:
                try:
                    fmha.dispatch._dispatch_bw(inp, varlen_lse_packed=None)
                except TypeError:  # older signature
                    fmha.dispatch._dispatch_bw(inp)
        except NotImplementedError as exc:
            problem = extension_problem()
            prefix = f"{problem}; " if problem else ""
            return prefix + "no xformers kernel takes these inputs: " + _one_line(str(exc))
        except AttributeError as exc:  # private dispatcher moved: fall back to the extension check
            problem = extension_problem()
            if problem:
                return problem
            del exc
        return None

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None
    ) -> Tensor:
        _, fmha = load_xformers()
        b, h, length, d = q.shape
        bias, folded = bias_for(pattern, length, b)
        out = fmha.memory_efficient_attention(
            _bmhk(q, folded), _bmhk(k, folded), _bmhk(v, folded), attn_bias=bias, scale=1 / math.sqrt(d)
        )  # [B, L, H, Dv] or [1, B * L, H, Dv]
        return out.reshape(b, length, h, v.shape[-1]).transpose(1, 2)  # [B, H, L, Dv]


backend = XformersBackend()
