"""Exact merge of attention results over disjoint key sets, by their row log-sum-exp (natural log).

out = sum_p exp(lse_p - m) out_p / sum_p exp(lse_p - m), lse = m + log(sum_p exp(lse_p - m)). Used by the flex
plans and the SDPA-parts backend.
"""

from __future__ import annotations

import torch
from torch import Tensor


def merge_lse(parts: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Exact softmax merge of attention over disjoint key sets: [(out, lse)] -> (out, lse).

    out: [..., L, D]; lse: float32 [..., L] (-inf where a part saw no key). Rows no part covers give 0, -inf.
    """
    if len(parts) == 1:
        return parts[0]
    lse = torch.stack([p[1] for p in parts])  # [P, ..., L]
    m = lse.amax(0).detach()
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    w = torch.exp(lse - m)  # [P, ..., L]
    den = w.sum(0)
    work = torch.promote_types(parts[0][0].dtype, torch.float32)
    out = sum(w[i].unsqueeze(-1).to(work) * p[0].to(work) for i, p in enumerate(parts))
    out = out / den.clamp_min(torch.finfo(den.dtype).tiny).unsqueeze(-1).to(work)
    return out.to(parts[0][0].dtype), m + torch.log(den)


def merge_lse_dim(out: Tensor, lse: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """``merge_lse`` over the parts stacked along ``dim`` of out [..., P, ..., L, D] and lse [..., P, ..., L]."""
    m = lse.amax(dim, keepdim=True).detach()
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    w = torch.exp(lse - m)  # [..., P, ..., L]
    den = w.sum(dim)
    work = torch.promote_types(out.dtype, torch.float32)
    merged = (w.unsqueeze(-1).to(work) * out.to(work)).sum(dim)
    merged = merged / den.clamp_min(torch.finfo(den.dtype).tiny).unsqueeze(-1).to(work)
    return merged.to(out.dtype), m.squeeze(dim) + torch.log(den)
