"""Longformer on the band kernels: a (dilated) window from the Triton kernels plus global tokens in PyTorch.

Longformer's visible set is local(i, j) | i in G | j in G (``causal``: and j <= i), with G a few positions.
Split it into three disjoint parts and merge them exactly:

- the band (local pairs): the band kernels, which also return the row log-sum-exp;
- global columns: pairs (i, j in G) that are not local, for every row: a [B, H, L, |G|] score matrix;
- global rows: rows i in G see every key (j <= i if causal): a [B, H, |G|, L] score matrix, replacing the row.

Band and global columns merge by log-sum-exp. The backward pass needs no merge: with the final output O and
log-sum-exp lse, each visible pair's gradient is P_ij (dP_ij - rowsum(dO_i * O_i)) with P_ij = exp(s_ij - lse_i),
whichever part holds the pair; the band kernels compute their pairs from (O, lse), given dO with the global
rows zeroed (those rows are handled whole by the global-row part), and PyTorch the rest.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genoattn.attention.kernels.band import Band

LN2 = math.log(2.0)


def global_parts(pattern) -> tuple[Band, bool] | None:
    """(band of the window, causal) for a Longformer whose heads share one dilation, else None."""
    dilations = {pattern.dilation} if isinstance(pattern.dilation, int) else set(pattern.dilation)
    if len(dilations) != 1:
        return None
    dilation = dilations.pop()
    return Band(dilation, pattern.window, 0 if pattern.causal else pattern.window), pattern.causal


def _column_scores(q: Tensor, keys: Tensor, positions: Tensor, band: Band, causal: bool,
                   slopes: Tensor | None) -> Tensor:
    """Scores of every query against the global keys, -inf where the pair is local or not allowed.

    q [B, H, L, D], keys [B, H, G, D], positions int64 [G] -> float32 [B, H, L, G] (natural units)."""
    length, head_dim = q.shape[2], q.shape[3]
    i = torch.arange(length, device=q.device)[:, None]  # [L, 1]
    j = positions[None, :]  # [1, G]
    diff = i - j
    local = (diff % band.dilation == 0) & (diff <= band.left * band.dilation) & (-diff <= band.right * band.dilation)
    allowed = ~local & (diff >= 0) if causal else ~local  # [L, G]
    scores = torch.matmul(q.float(), keys.float().transpose(-1, -2)) / math.sqrt(head_dim)  # [B, H, L, G]
    if slopes is not None:
        scores = scores - slopes.float().view(-1, 1, 1) * diff.abs().float()
    return scores.masked_fill(~allowed, float("-inf"))


def _row_scores(queries: Tensor, k: Tensor, positions: Tensor, causal: bool, slopes: Tensor | None) -> Tensor:
    """Scores of the global queries [B, H, G, D] against every key: float32 [B, H, G, L]."""
    length, head_dim = k.shape[2], k.shape[3]
    scores = torch.matmul(queries.float(), k.float().transpose(-1, -2)) / math.sqrt(head_dim)
    diff = positions[:, None] - torch.arange(length, device=k.device)[None, :]  # [G, L]
    if slopes is not None:
        scores = scores - slopes.float().view(-1, 1, 1) * diff.abs().float()
    if causal:
        scores = scores.masked_fill(diff < 0, float("-inf"))
    return scores


class BandGlobalAttention(torch.autograd.Function):
    """Band kernels + global tokens; forward(q, k, v, band, causal, positions, slopes, forward, backward)."""

    @staticmethod
    def forward(ctx, q, k, v, band, causal, positions, slopes, band_forward, band_backward):
        out_band, lse_band = band_forward(q, k, v, band, slopes)  # lse in base 2
        lse = lse_band * LN2  # [B, H, L], natural units
        columns = _column_scores(q, k[:, :, positions], positions, band, causal, slopes)  # [B, H, L, G]
        lse_columns = torch.logsumexp(columns, dim=-1)
        merged = torch.logaddexp(lse, lse_columns)
        out = out_band.float() * torch.exp(lse - merged).unsqueeze(-1)
        out = out + torch.matmul(torch.exp(columns - merged.unsqueeze(-1)), v[:, :, positions].float())
        rows = _row_scores(q[:, :, positions], k, positions, causal, slopes)  # [B, H, G, L]
        lse_rows = torch.logsumexp(rows, dim=-1)
        out[:, :, positions] = torch.matmul(torch.exp(rows - lse_rows.unsqueeze(-1)), v.float())
        merged[:, :, positions] = lse_rows
        out = out.to(q.dtype)
        ctx.save_for_backward(q, k, v, out, merged, positions)
        ctx.band, ctx.causal, ctx.slopes, ctx.band_backward = band, causal, slopes, band_backward
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, lse, positions = ctx.saved_tensors
        slopes = ctx.slopes
        scale = 1.0 / math.sqrt(q.shape[-1])
        grad_band = grad_out.clone()
        grad_band[:, :, positions] = 0  # global rows are handled whole below
        dq, dk, dv = ctx.band_backward(grad_band, q, k, v, out, lse / LN2, ctx.band, slopes)
        dq, dk, dv = dq.float(), dk.float(), dv.float()
        grad32, out32 = grad_band.float(), out.float()
        delta = (grad32 * out32).sum(-1, keepdim=True)  # [B, H, L, 1]
        # global columns (rows in G carry no gradient here: grad_band is zero there)
        keys, values = k[:, :, positions].float(), v[:, :, positions].float()
        p = torch.exp(_column_scores(q, keys, positions, ctx.band, ctx.causal, slopes) - lse.unsqueeze(-1))
        ds = p * (torch.matmul(grad32, values.transpose(-1, -2)) - delta)  # [B, H, L, G]
        dq += torch.matmul(ds, keys) * scale
        dk.index_add_(2, positions, torch.matmul(ds.transpose(-1, -2), q.float()) * scale)
        dv.index_add_(2, positions, torch.matmul(p.transpose(-1, -2), grad32))
        # global rows: plain attention backward over every key
        grad_rows, queries = grad_out[:, :, positions].float(), q[:, :, positions].float()
        p_rows = torch.exp(_row_scores(queries, k, positions, ctx.causal, slopes) - lse[:, :, positions].unsqueeze(-1))
        delta_rows = (grad_rows * out32[:, :, positions]).sum(-1, keepdim=True)  # [B, H, G, 1]
        ds_rows = p_rows * (torch.matmul(grad_rows, v.float().transpose(-1, -2)) - delta_rows)  # [B, H, G, L]
        dq[:, :, positions] += torch.matmul(ds_rows, k.float()) * scale
        dk += torch.matmul(ds_rows.transpose(-1, -2), queries) * scale
        dv += torch.matmul(p_rows.transpose(-1, -2), grad_rows)
        return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype), None, None, None, None, None, None
