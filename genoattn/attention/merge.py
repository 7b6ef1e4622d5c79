"""Exact merge of attention results over disjoint key sets, by their row log-sum-exp (natural log).

out = sum_p exp(lse_p - m) out_p / sum_p exp(lse_p - m), lse = m + log(sum_p exp(lse_p - m)). Used by the flex
plans and the SDPA-parts backend.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor


def _weights(lse: Tensor, dim: int) -> tuple[Tensor, Tensor, Tensor]:
    """Each part's weight exp(lse_p - m) along ``dim`` (kept), their sum (``dim`` removed) and m (kept; 0 where no
    part saw a key)."""
    m = lse.amax(dim, keepdim=True).detach()
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    w = torch.exp(lse - m)
    return w, w.sum(dim), m


def _normalise(total: Tensor, den: Tensor, m: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """(total / den in ``dtype``, m + log(den)): the merged output [..., L, D] and log-sum-exp [..., L]."""
    out = total / den.clamp_min(torch.finfo(den.dtype).tiny).unsqueeze(-1).to(total.dtype)
    return out.to(dtype), m + torch.log(den)


def merge_lse(parts: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Exact softmax merge of attention over disjoint key sets: [(out, lse)] -> (out, lse).

    out: [..., L, D]; lse: float32 [..., L] (-inf where a part saw no key). Rows no part covers give 0, -inf.
    The outputs are weighted one by one (no stacked copy of them).
    """
    if len(parts) == 1:
        return parts[0]
    w, den, m = _weights(torch.stack([p[1] for p in parts]), 0)  # [P, ..., L]
    work = torch.promote_types(parts[0][0].dtype, torch.float32)
    total = functools.reduce(torch.add, (w[i].unsqueeze(-1).to(work) * p[0].to(work) for i, p in enumerate(parts)))
    return _normalise(total, den, m.squeeze(0), parts[0][0].dtype)


def merge_lse_dim(out: Tensor, lse: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """``merge_lse`` over the parts stacked along ``dim`` of out [..., P, ..., L, D] and lse [..., P, ..., L]."""
    w, den, m = _weights(lse, dim)
    work = torch.promote_types(out.dtype, torch.float32)
    total = (w.unsqueeze(-1).to(work) * out.to(work)).sum(dim)
    return _normalise(total, den, m.squeeze(dim), out.dtype)
