"""SDPA-parts backend: FixedFactorized as two *dense* attention calls over views and a gather of q, k, v, each on
SDPA's flash kernel, merged exactly; and, on CUDA, Full as one ``scaled_dot_product_attention`` call (PyTorch
picks its fastest dense kernel: flash, cuDNN or memory-efficient), so that dense models in training skip
FlexAttention's compilation.

FixedFactorized(block=l, summary=c), not causal, L a multiple of l, is two parts over disjoint keys, merged by
log-sum-exp:

- own block minus its summary columns: the blocks as a batch, [l queries] x [l - c keys] each;
- every summary column (j % l >= l - c), gathered: [L queries] x [L * c / l keys], one dense call.

Backward: each part's flash backward given the final output and log-sum-exp (``genoattn.attention.dense_flash``).
``auto`` takes it before flex, which it outran forward and forward+backward on the GPU
(benchmarks/attention/README.md).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genoattn.attention.dense_flash import flash_backward, flash_forward
from genoattn.attention.merge import merge_lse
from genoattn.attention.patterns import FixedFactorized, Full, Pattern


def _blocks(x: Tensor, block: int) -> Tensor:
    """[B, H, L, D] -> [B, H * n, block, D] (n = L / block; a view when the strides allow)."""
    return x.unflatten(2, (x.shape[2] // block, block)).flatten(1, 2)


Triple = tuple[Tensor, Tensor, Tensor]


def _fixed_parts(q: Tensor, k: Tensor, v: Tensor, block: int, summary: int) -> tuple[Triple, Triple]:
    """The two parts' (q, k, v): own blocks without summary columns; all queries against the summary columns."""
    keep = block - summary
    own = (_blocks(q, block), _blocks(k, block)[:, :, :keep], _blocks(v, block)[:, :, :keep])  # [B, H*n, *, D]

    def columns(x: Tensor) -> Tensor:  # [B, H, n * c, D], a small copy
        return x.unflatten(2, (x.shape[2] // block, block))[:, :, :, keep:].flatten(2, 3).contiguous()

    return own, (q, columns(k), columns(v))


class FixedFactorizedAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, block: int, summary: int) -> Tensor:
        scale = 1.0 / math.sqrt(q.shape[-1])
        own, columns = _fixed_parts(q, k, v, block, summary)
        out_own, lse_own, state_own = flash_forward(*own, scale)
        out_col, lse_col, state_col = flash_forward(*columns, scale)
        own_part = (out_own.reshape(q.shape), lse_own.reshape(q.shape[:3]))  # back to [B, H, L, (D)]
        out, lse = merge_lse([own_part, (out_col, lse_col)])
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.block, ctx.summary, ctx.scale, ctx.states = block, summary, scale, (state_own, state_col)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        q, k, v, out, lse = ctx.saved_tensors
        block, summary, scale = ctx.block, ctx.summary, ctx.scale
        grad = grad.contiguous()
        own, columns = _fixed_parts(q, k, v, block, summary)
        n = q.shape[2] // block
        dq_own, dk_own, dv_own = flash_backward(_blocks(grad, block), *own, _blocks(out, block),
                                                lse.unflatten(2, (n, block)).flatten(1, 2), ctx.states[0], scale)
        dq_col, dk_col, dv_col = flash_backward(grad, *columns, out, lse, ctx.states[1], scale)
        dk, dv = torch.empty_like(k), torch.empty_like(v)
        keep = block - summary
        for full, part_own, part_col in ((dk, dk_own, dk_col), (dv, dv_own, dv_col)):
            blocks = full.unflatten(2, (n, block))  # [B, H, n, l, D] view of the gradient being filled
            blocks[:, :, :, :keep] = part_own.reshape(*blocks.shape[:3], keep, -1)
            blocks[:, :, :, keep:] = part_col.reshape(*blocks.shape[:3], summary, -1)
        return dq_own.reshape(q.shape) + dq_col, dk, dv, None, None


class SdpaPartsBackend:
    name = "sdpa_parts"

    def can_run(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None
    ) -> str | None:
        reason = _pattern_reason(pattern, q.shape[2], q.is_cuda)
        if reason is not None:
            return reason
        if alibi_slopes is not None:
            return "no ALiBi (the flash kernels take no bias)"
        if q.is_cuda and q.dtype not in (torch.float16, torch.bfloat16):
            return f"SDPA's flash kernel takes float16 / bfloat16 on CUDA, got {q.dtype}"
        if any(t.stride(-1) != 1 for t in (q, k, v)):
            return "q, k, v need contiguous head dimensions (stride 1 in the last dim)"
        return None

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None
    ) -> Tensor:
        if type(pattern) is Full:
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=pattern.causal)
        assert isinstance(pattern, FixedFactorized), "supports() admits Full and FixedFactorized only"
        return FixedFactorizedAttention.apply(q, k, v, pattern.block, pattern.summary)


def _pattern_reason(pattern: Pattern, length: int, on_cuda: bool = True) -> str | None:
    """Why this backend has no plan for ``pattern`` at ``length`` (None: it has one)."""
    if type(pattern) is Full:
        return None if on_cuda else "Full runs here on CUDA only (on CPU the blocked backend runs it)"
    if type(pattern) is FixedFactorized:
        if pattern.causal:
            return "causal FixedFactorized: the summary columns would need a per-row limit (not a dense call)"
        if pattern.summary == 0 or pattern.summary >= pattern.block:
            return "needs 0 < summary < block (two non-empty parts)"
        if length % pattern.block:
            return f"L={length} is not a multiple of the block ({pattern.block})"
        return None
    return f"{type(pattern).__name__} has no dense-parts plan here (FixedFactorized, Full)"


backend = SdpaPartsBackend()
