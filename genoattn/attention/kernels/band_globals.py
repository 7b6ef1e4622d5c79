"""Longformer on the band kernels: a (dilated) window and global columns in the Triton kernels, global rows apart.

Longformer's visible set is local(i, j) | i in G | j in G (``causal``: and j <= i), with G a few positions.
Split it into three disjoint parts:

- the band (local pairs) and the global columns (pairs (i, j in G) that are not local): one pass of the band
  kernels, which take the global keys as extra key tiles (``GlobalColumns``) and return the row log-sum-exp;
- global rows: rows i in G see every key (j <= i if causal): a [B, H, |G|, L] score matrix in PyTorch (float32
  scores from low-precision operands), replacing those rows of the kernels' output.

The backward pass needs no merge: with the final output O and log-sum-exp lse, each visible pair's gradient is
P_ij (dP_ij - rowsum(dO_i * O_i)) with P_ij = exp(s_ij - lse_i), whichever part holds the pair. The kernels get
lse = +inf on the global rows (so P = 0 there: those rows are handled whole by the global-row part) and compute
every other row's band and global-column pairs, including the global keys' dK, dV; PyTorch adds the global rows.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genoattn.attention.kernels.band import Band, GlobalColumns

LN2 = math.log(2.0)


def global_parts(pattern) -> tuple[Band, bool] | None:
    """(band of the window, causal) for a Longformer whose heads share one dilation, else None."""
    dilations = {pattern.dilation} if isinstance(pattern.dilation, int) else set(pattern.dilation)
    if len(dilations) != 1:
        return None
    dilation = dilations.pop()
    return Band(dilation, pattern.window, 0 if pattern.causal else pattern.window), pattern.causal


def matmul_f32(a: Tensor, b: Tensor) -> Tensor:
    """a [B, H, M, K] @ b [B, H, K, N] as float32. On CUDA, low-precision operands are multiplied as they are
    (float32 accumulation and output, ``bmm(out_dtype=...)``): no float32 copy of a long operand."""
    if a.is_cuda and a.dtype in (torch.float16, torch.bfloat16) and b.dtype == a.dtype:
        return torch.stack([torch.bmm(a[i], b[i], out_dtype=torch.float32) for i in range(a.shape[0])])
    return torch.matmul(a.float(), b.float())


def _row_scores(queries: Tensor, k: Tensor, positions: Tensor, causal: bool, slopes: Tensor | None) -> Tensor:
    """Scores (natural units) of the global queries [B, H, G, D] against every key: float32 [B, H, G, L]."""
    length, head_dim = k.shape[2], k.shape[3]
    scores = matmul_f32(queries, k.transpose(-1, -2)) / math.sqrt(head_dim)
    diff = positions[:, None] - torch.arange(length, device=k.device)[None, :]  # [G, L]
    if slopes is not None:
        scores = scores - slopes.float().view(-1, 1, 1) * diff.abs().float()
    if causal:
        scores = scores.masked_fill(diff < 0, float("-inf"))
    return scores


class BandGlobalAttention(torch.autograd.Function):
    """Band kernels with global columns + global rows in PyTorch;
    forward(q, k, v, band, causal, positions [G] int64, slopes, band_forward, band_backward)."""

    @staticmethod
    def forward(ctx, q, k, v, band, causal, positions, slopes, band_forward, band_backward):
        columns = GlobalColumns(positions.int(), causal)
        out, lse = band_forward(q, k, v, band, slopes, columns=columns)  # lse in base 2
        if positions.numel():
            scores = _row_scores(q[:, :, positions], k, positions, causal, slopes)  # [B, H, G, L]
            lse_rows = torch.logsumexp(scores, dim=-1)  # [B, H, G]
            weights = torch.exp(scores - lse_rows.unsqueeze(-1))
            out[:, :, positions] = matmul_f32(weights.to(v.dtype), v).to(out.dtype)
            lse[:, :, positions] = lse_rows / LN2
        ctx.save_for_backward(q, k, v, out, lse, positions)
        ctx.band, ctx.columns, ctx.slopes, ctx.band_backward = band, columns, slopes, band_backward
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, lse, positions = ctx.saved_tensors
        slopes, scale = ctx.slopes, 1.0 / math.sqrt(q.shape[-1])
        lse_band = lse.clone()
        lse_band[:, :, positions] = float("inf")  # P = 0 on the global rows: handled whole below
        grad_out = grad_out.contiguous()
        dq, dk, dv = ctx.band_backward(grad_out, q, k, v, out, lse_band, ctx.band, slopes, columns=ctx.columns)
        if positions.numel():  # global rows: plain attention backward over every key
            queries, grad_rows = q[:, :, positions], grad_out[:, :, positions]  # [B, H, G, D]
            scores = _row_scores(queries, k, positions, ctx.columns.causal, slopes)
            p = torch.exp(scores - (lse[:, :, positions] * LN2).unsqueeze(-1))  # [B, H, G, L]
            delta = (grad_rows.float() * out[:, :, positions].float()).sum(-1, keepdim=True)  # [B, H, G, 1]
            ds = p * (matmul_f32(grad_rows, v.transpose(-1, -2)) - delta) * scale  # [B, H, G, L]
            dq[:, :, positions] += matmul_f32(ds.to(k.dtype), k).to(dq.dtype)
            for b in range(q.shape[0]):  # in place: dk += ds^T q_G, dv += p^T dO_G
                dk[b].baddbmm_(ds[b].transpose(-1, -2).to(dk.dtype), queries[b])
                dv[b].baddbmm_(p[b].transpose(-1, -2).to(dv.dtype), grad_rows[b])
        return dq, dk, dv, None, None, None, None, None, None
