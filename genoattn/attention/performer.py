"""Performer attention (FAVOR+, Choromanski et al. 2021): positive orthogonal random features.

Formula (docs/design.md, section 2.3): q and k are scaled by head_dim^-1/4, then

    phi(x) = M^-1/2 * (exp(W x - |x|^2 / 2 - stabiliser) + eps),   eps = 1e-4,
    out    = phi(q) (phi(k)^T v) / (phi(q) sum_j phi(k_j)),

with W [M, head_dim] the random projection. The stabiliser is a max of the projections ``W x``: for a
query its own row max over the M features; for keys one max over every position and feature of the
same (batch, head) (the "global" key max of performer-pytorch; batch entries stay independent).
The stabilisers are part of the function (they matter through eps), so gradients are exact.
``causal=True`` replaces the sums over keys by prefix sums (keys j <= i); the key max still spans the
whole sequence (as in performer-pytorch), so later keys reach earlier outputs, but only through eps.

Caveat of the formula: with the key max over the whole sequence, large |k| or long L push most key
features far below eps (unit-normal k, D=64, M=256: 99.9% of them at L=1024), and the estimate drifts
towards a uniform average of v. Small q/k norms (e.g. normalised or down-scaled projections) avoid it.

Memory is linear in L: the sequence is processed in chunks of ``chunk_size`` positions, each one
recomputed in the backward pass (activation checkpointing), so no [B, H, L, M] tensor is ever held;
the largest intermediates are a few [B, H, chunk_size, M] float32 tensors (64 MiB each for B=1, H=8,
chunk_size=8192, M=256). Within a chunk the causal path works on blocks of ``block_size``: a masked
block-local product plus an exclusive prefix sum of per-block states phi(k)^T v [M, D].
The feature map is computed in float32 for half-precision inputs (float64 stays float64).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from genoattn.errors import ConfigError, InputError

EPS = 1e-4
_SEED_STRIDE = 0x9E3779B97F4A7C15  # spreads (seed, draw index) over the generator's seed space


def random_features(
    num_features: int,
    head_dim: int,
    ortho: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw a FAVOR+ projection W [num_features, head_dim] (float64, CPU).

    ``ortho=True``: blocks of head_dim orthonormal rows (QR of a Gaussian matrix, signs fixed so the block
    is Haar-distributed; the last block keeps its first rows), each row then rescaled by an independent
    chi(head_dim) norm, i.e. the norm of a Gaussian vector, so rows are marginally Gaussian.
    ``ortho=False``: i.i.d. standard Gaussian rows.
    """
    if num_features < 1 or head_dim < 1:
        raise ConfigError(f"random_features needs num_features >= 1 and head_dim >= 1, got {num_features}, {head_dim}")
    if not ortho:
        return torch.randn(num_features, head_dim, generator=generator, dtype=torch.float64)
    blocks = []
    for _ in range(math.ceil(num_features / head_dim)):
        gauss = torch.randn(head_dim, head_dim, generator=generator, dtype=torch.float64)
        q, r = torch.linalg.qr(gauss)
        q = q * torch.where(torch.diagonal(r) < 0, -1.0, 1.0)  # column signs fixed: Haar-distributed
        blocks.append(q.T)  # rows orthonormal
    rows = torch.cat(blocks)[:num_features]  # [M, D]
    norms = torch.randn(num_features, head_dim, generator=generator, dtype=torch.float64).norm(dim=1)  # chi(D), [M]
    return rows * norms[:, None]


def _feature_map(x: Tensor, w: Tensor, stabiliser: Tensor | None) -> Tensor:
    """phi(x) for already-scaled x [..., n, D]; stabiliser broadcastable to [..., n, M] or None (row max)."""
    proj = x @ w.T  # [..., n, M]
    if stabiliser is None:
        stabiliser = proj.amax(dim=-1, keepdim=True)  # [..., n, 1]
    half_sq_norm = x.square().sum(dim=-1, keepdim=True) / 2  # [..., n, 1]
    return (torch.exp(proj - half_sq_norm - stabiliser) + EPS) * w.shape[0] ** -0.5


def _scaled(x: Tensor, dtype: torch.dtype) -> Tensor:
    return x.to(dtype) * x.shape[-1] ** -0.25


def _key_stabiliser(k: Tensor, w: Tensor, chunk_size: int, dtype: torch.dtype) -> Tensor:
    """Max of W k over all positions and features of each (batch, head), differentiable; [B, H, 1, 1].

    The location of the max is found chunk by chunk without autograd, then the single winning entry
    is recomputed with autograd so that the gradient reaches exactly that key, as torch.max would.
    """
    batch, heads, length, dim = k.shape
    num_features = w.shape[0]
    with torch.no_grad():
        best_val: Tensor | None = None
        best_pos: Tensor | None = None
        for start in range(0, length, chunk_size):
            proj = _scaled(k[:, :, start : start + chunk_size], dtype) @ w.T  # [B, H, c, M]
            val, pos = proj.flatten(2).max(dim=-1)  # [B, H], flat index l * M + m within the chunk
            pos = pos + start * num_features
            if best_val is None or best_pos is None:
                best_val, best_pos = val, pos
            else:
                better = val > best_val
                best_val = torch.where(better, val, best_val)
                best_pos = torch.where(better, pos, best_pos)
    assert best_pos is not None, "k has at least one position"
    row = (best_pos // num_features)[:, :, None, None].expand(batch, heads, 1, dim)  # [B, H, 1, D]
    key = _scaled(k.gather(2, row), dtype)[:, :, 0]  # [B, H, D]
    feature = w[best_pos % num_features]  # [B, H, D]
    return (key * feature).sum(dim=-1)[:, :, None, None]  # [B, H, 1, 1]


def _key_summary(k: Tensor, v: Tensor, w: Tensor, stab: Tensor) -> tuple[Tensor, Tensor]:
    """Sum over a chunk of phi(k)^T v [B, H, M, Dv] and of phi(k) [B, H, M]."""
    phi_k = _feature_map(_scaled(k, w.dtype), w, stab)  # [B, H, c, M]
    return phi_k.transpose(-1, -2) @ v.to(w.dtype), phi_k.sum(dim=-2)


def _query_output(q: Tensor, w: Tensor, kv: Tensor, k_sum: Tensor) -> Tensor:
    """phi(q) kv / (phi(q) k_sum) for a chunk of queries; [B, H, c, Dv] in q's dtype."""
    phi_q = _feature_map(_scaled(q, w.dtype), w, None)  # [B, H, c, M]
    denom = phi_q @ k_sum[..., None]  # [B, H, c, 1]
    return ((phi_q @ kv) / denom).to(q.dtype)


def _causal_chunk(
    q: Tensor, k: Tensor, v: Tensor, w: Tensor, stab: Tensor, state: Tensor, state_sum: Tensor, block: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Causal FAVOR+ for one chunk given the state of all earlier keys.

    state [B, H, M, Dv] = sum phi(k_j) v_j^T and state_sum [B, H, M] = sum phi(k_j) over earlier positions.
    Returns the chunk's output [B, H, c, Dv] and the state after the chunk.
    """
    batch, heads, length, _ = q.shape
    dtype = w.dtype
    phi_q = _feature_map(_scaled(q, dtype), w, None)  # [B, H, c, M]
    phi_k = _feature_map(_scaled(k, dtype), w, stab)  # [B, H, c, M]
    vals = v.to(dtype)  # [B, H, c, Dv]
    nblocks = math.ceil(length / block)
    pad = nblocks * block - length
    if pad:  # padded keys have zero features (invisible); padded queries ones (a positive denominator)
        phi_q = F.pad(phi_q, (0, 0, 0, pad), value=1.0)
        phi_k = F.pad(phi_k, (0, 0, 0, pad))
        vals = F.pad(vals, (0, 0, 0, pad))
    num_features, dv = phi_q.shape[-1], vals.shape[-1]
    phi_q = phi_q.view(batch, heads, nblocks, block, num_features)  # [B, H, n, b, M]
    phi_k = phi_k.view(batch, heads, nblocks, block, num_features)  # [B, H, n, b, M]
    vals = vals.view(batch, heads, nblocks, block, dv)  # [B, H, n, b, Dv]

    # Within a block: the masked quadratic form.
    scores = phi_q @ phi_k.transpose(-1, -2)  # [B, H, n, b, b]
    scores = scores * torch.ones(block, block, dtype=torch.bool, device=q.device).tril()
    numer = scores @ vals  # [B, H, n, b, Dv]
    denom = scores.sum(dim=-1)  # [B, H, n, b]

    # Earlier blocks: exclusive prefix sum of per-block states, plus the state carried in.
    block_state = phi_k.transpose(-1, -2) @ vals  # [B, H, n, M, Dv]
    block_sum = phi_k.sum(dim=-2)  # [B, H, n, M]
    incl_state = block_state.cumsum(dim=2) + state[:, :, None]  # [B, H, n, M, Dv]
    incl_sum = block_sum.cumsum(dim=2) + state_sum[:, :, None]  # [B, H, n, M]
    excl_state = torch.cat([state[:, :, None], incl_state[:, :, :-1]], dim=2)  # [B, H, n, M, Dv]
    excl_sum = torch.cat([state_sum[:, :, None], incl_sum[:, :, :-1]], dim=2)  # [B, H, n, M]
    numer = numer + phi_q @ excl_state
    denom = denom + (phi_q @ excl_sum[..., None])[..., 0]

    out = (numer / denom[..., None]).reshape(batch, heads, nblocks * block, dv)[:, :, :length]
    return out.to(q.dtype), incl_state[:, :, -1], incl_sum[:, :, -1]


def _maybe_checkpoint(fn, *args):
    """Run ``fn`` under activation checkpointing when autograd is recording, else directly."""
    if torch.is_grad_enabled() and any(a.requires_grad for a in args if isinstance(a, Tensor)):
        return checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)


class Performer(nn.Module):
    """FAVOR+ attention over q, k, v [B, H, L, D] -> [B, H, L, Dv], linear time and memory in L.

    Args:
        head_dim: D, the last dimension of q and k.
        num_features: M, the number of random features (rows of W).
        causal: position i sees keys j <= i only (prefix sums).
        redraw_interval: draw a new W before every ``redraw_interval + 1``-th training forward, i.e. each
            W serves ``redraw_interval`` training forwards; None never redraws. Eval forwards don't count.
        ortho: orthogonal random features (else i.i.d. Gaussian rows).
        seed: makes the first W and every redraw reproducible (draw i uses a generator derived from
            (seed, i)); None uses torch's global generator.
        chunk_size: positions per checkpointed chunk (bounds the [B, H, chunk, M] intermediates).
        block_size: block length of the causal block-local product (chunk_size is rounded to a multiple).
    """

    projection: Tensor  # buffer W [M, D]

    def __init__(
        self,
        head_dim: int,
        num_features: int = 256,
        causal: bool = False,
        redraw_interval: int | None = None,
        ortho: bool = True,
        seed: int | None = None,
        chunk_size: int = 8192,
        block_size: int = 128,
    ) -> None:
        super().__init__()
        if head_dim < 1 or num_features < 1:
            raise ConfigError(f"Performer needs head_dim >= 1 and num_features >= 1, got {head_dim}, {num_features}")
        if redraw_interval is not None and redraw_interval < 1:
            raise ConfigError(f"Performer redraw_interval must be None or >= 1, got {redraw_interval}")
        if chunk_size < 1 or block_size < 1:
            raise ConfigError(f"Performer needs chunk_size >= 1 and block_size >= 1, got {chunk_size}, {block_size}")
        self.head_dim = head_dim
        self.num_features = num_features
        self.causal = causal
        self.redraw_interval = redraw_interval
        self.ortho = ortho
        self.seed = seed
        self.block_size = block_size
        self.chunk_size = math.ceil(chunk_size / block_size) * block_size if causal else chunk_size
        self.calls_since_redraw = 0
        self.num_draws = 0
        self.register_buffer("projection", torch.empty(num_features, head_dim))  # W [M, D]
        self.redraw_projection()

    def extra_repr(self) -> str:
        return (
            f"head_dim={self.head_dim}, num_features={self.num_features}, causal={self.causal}, "
            f"redraw_interval={self.redraw_interval}, ortho={self.ortho}"
        )

    def get_extra_state(self) -> dict:
        return {"calls_since_redraw": self.calls_since_redraw, "num_draws": self.num_draws}

    def set_extra_state(self, state: dict) -> None:
        self.calls_since_redraw = int(state["calls_since_redraw"])
        self.num_draws = int(state["num_draws"])

    def set_projection(self, w: Tensor) -> None:
        """Replace W with ``w`` [num_features, head_dim] (copied into the buffer's dtype and device)."""
        expected = (self.num_features, self.head_dim)
        if tuple(w.shape) != expected:
            raise InputError(f"set_projection expects W of shape {expected}, got {tuple(w.shape)}")
        with torch.no_grad():
            self.projection.copy_(w)

    def redraw_projection(self, generator: torch.Generator | None = None) -> None:
        """Draw a new W: from ``generator`` if given, else from the module seed, else the global RNG."""
        if generator is None and self.seed is not None:
            generator = torch.Generator().manual_seed((self.seed + _SEED_STRIDE * self.num_draws) % 2**63)
        self.set_projection(random_features(self.num_features, self.head_dim, self.ortho, generator))
        self.num_draws += 1

    def _check(self, q: Tensor, k: Tensor, v: Tensor) -> None:
        if q.dim() != 4 or k.shape != q.shape or v.shape[:-1] != q.shape[:-1] or q.shape[-1] != self.head_dim:
            raise InputError(
                f"Performer expects q, k [B, H, L, {self.head_dim}] of equal shape and v [B, H, L, Dv], got "
                f"q={tuple(q.shape)}, k={tuple(k.shape)}, v={tuple(v.shape)}"
            )
        if not (q.is_floating_point() and k.is_floating_point() and v.is_floating_point()):
            raise InputError(f"Performer expects floating-point q, k, v, got {q.dtype}, {k.dtype}, {v.dtype}")

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """FAVOR+ attention; q, k [B, H, L, D], v [B, H, L, Dv] -> [B, H, L, Dv] in q's dtype."""
        self._check(q, k, v)
        if self.training and self.redraw_interval is not None:
            if self.calls_since_redraw >= self.redraw_interval:
                self.redraw_projection()
                self.calls_since_redraw = 0
            self.calls_since_redraw += 1
        dtype = torch.promote_types(torch.promote_types(q.dtype, v.dtype), torch.float32)
        w = self.projection.to(device=q.device, dtype=dtype)  # [M, D]
        stab = _key_stabiliser(k, w, self.chunk_size, dtype)  # [B, H, 1, 1]
        # split (not slicing) so that the backward joins the chunk gradients in one concatenation
        q_chunks, k_chunks, v_chunks = (t.split(self.chunk_size, dim=2) for t in (q, k, v))  # [B, H, c, *]
        if self.causal:
            batch, heads = q.shape[:2]
            state = q.new_zeros(batch, heads, self.num_features, v.shape[-1], dtype=dtype)  # [B, H, M, Dv]
            state_sum = q.new_zeros(batch, heads, self.num_features, dtype=dtype)  # [B, H, M]
            outs = []
            for q_c, k_c, v_c in zip(q_chunks, k_chunks, v_chunks):
                out, state, state_sum = _maybe_checkpoint(
                    _causal_chunk, q_c, k_c, v_c, w, stab, state, state_sum, self.block_size
                )
                outs.append(out)
            return torch.cat(outs, dim=2)  # [B, H, L, Dv]
        kv, k_sum = 0, 0
        for k_c, v_c in zip(k_chunks, v_chunks):
            kv_c, k_sum_c = _maybe_checkpoint(_key_summary, k_c, v_c, w, stab)
            kv, k_sum = kv + kv_c, k_sum + k_sum_c  # [B, H, M, Dv], [B, H, M]
        outs = [_maybe_checkpoint(_query_output, q_c, w, kv, k_sum) for q_c in q_chunks]
        return torch.cat(outs, dim=2)  # [B, H, L, Dv]
