"""SDPA-parts backend: a pattern split into a few *dense* attention calls over views of q, k, v, each on SDPA's
flash kernel, merged exactly by log-sum-exp.

FixedFactorized(block=l, summary=c), not causal, L a multiple of l, is two dense parts over disjoint keys:

- own block minus its summary columns: the blocks as a batch, [l queries] x [l - c keys] each;
- every summary column (j % l >= l - c), gathered: [L queries] x [L * c / l keys], one dense call.

The backward needs no merge either: with the merged output O and log-sum-exp lse, each part's gradients are the
flash backward of that part given (O, lse) in place of its own (P_ij = exp(s_ij - lse_i), delta_i = rowsum(dO_i
O_i)), which the flash backward kernels take as inputs. The parts' key sets are disjoint, so dK and dV are
assembled, not summed; dQ is the sum of the two.

CUDA: ``torch.ops.aten._scaled_dot_product_flash_attention`` (float16 / bfloat16); CPU: its ``_for_cpu`` variant
(any float dtype), which the tests compare with the reference. Not in ``auto``'s first choices until measured
on a GPU against flex (see benchmarks/attention/README.md); name it to use it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genoattn.attention.patterns import FixedFactorized


def flash_forward(q: Tensor, k: Tensor, v: Tensor, scale: float) -> tuple[Tensor, Tensor, tuple]:
    """(out, lse [..., Lq] float32 natural log, what the backward needs) of dense attention, q/k/v [B, H, L, D]."""
    if q.is_cuda:
        result = torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, 0.0, False, False, scale=scale)
        return result[0], result[1], tuple(result[2:8])
    out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, False, scale=scale)
    return out, lse, ()


def flash_backward(grad: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, state: tuple,
                   scale: float) -> tuple[Tensor, Tensor, Tensor]:
    """(dq, dk, dv) of dense attention whose softmax is normalised by ``lse`` and whose output is ``out``."""
    if q.is_cuda:
        cum_q, cum_k, max_q, max_k, seed, offset = state
        return torch.ops.aten._scaled_dot_product_flash_attention_backward(
            grad, q, k, v, out, lse, cum_q, cum_k, max_q, max_k, 0.0, False, seed, offset, scale=scale)
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
        grad, q, k, v, out, lse, 0.0, False, scale=scale)


def _blocks(x: Tensor, block: int) -> Tensor:
    """[B, H, L, D] -> [B, H * n, block, D] (n = L / block; a view when the strides allow)."""
    return x.unflatten(2, (x.shape[2] // block, block)).flatten(1, 2)


def _fixed_parts(q: Tensor, k: Tensor, v: Tensor, block: int, summary: int):
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
        out_own, lse_own = out_own.reshape(q.shape), lse_own.reshape(q.shape[:3])  # back to [B, H, L, (D)]
        lse = torch.logaddexp(lse_own, lse_col)  # [B, H, L]
        weight = torch.exp(lse_own - lse).unsqueeze(-1)  # the own block's share of each row's softmax
        work = torch.promote_types(q.dtype, torch.float32)
        out = torch.lerp(out_col.to(work), out_own.to(work), weight.to(work)).to(q.dtype)
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
            blocks[:, :, :, :keep] = part_own.view(*blocks.shape[:3], keep, -1)
            blocks[:, :, :, keep:] = part_col.view(*blocks.shape[:3], summary, -1)
        return dq_own.reshape(q.shape) + dq_col, dk, dv, None, None


class SdpaPartsBackend:
    name = "sdpa_parts"

    def can_run(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: object, alibi_slopes: Tensor | None = None
    ) -> str | None:
        if type(pattern) is not FixedFactorized:
            return f"{type(pattern).__name__} has no dense-parts plan here (FixedFactorized only)"
        if pattern.causal:
            return "causal FixedFactorized: the summary columns would need a per-row limit (not a dense call)"
        if pattern.summary == 0 or pattern.summary >= pattern.block:
            return "needs 0 < summary < block (two non-empty parts)"
        if q.shape[2] % pattern.block:
            return f"L={q.shape[2]} is not a multiple of the block ({pattern.block})"
        if alibi_slopes is not None:
            return "no ALiBi (the flash kernels take no bias)"
        if q.is_cuda and q.dtype not in (torch.float16, torch.bfloat16):
            return f"SDPA's flash kernel takes float16 / bfloat16 on CUDA, got {q.dtype}"
        if any(t.stride(-1) != 1 for t in (q, k, v)):
            return "q, k, v need contiguous head dimensions (stride 1 in the last dim)"
        return None

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: object, alibi_slopes: Tensor | None = None
    ) -> Tensor:
        return FixedFactorizedAttention.apply(q, k, v, pattern.block, pattern.summary)


backend = SdpaPartsBackend()
