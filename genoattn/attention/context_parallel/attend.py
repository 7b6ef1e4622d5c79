"""``attend_sharded``: attention over a sequence whose tokens are sharded over ranks (context parallelism).

Each rank passes the q, k, v of its own tokens (``Shards`` says which) and gets its queries' outputs, equal to the
matching rows of ``attend`` over the whole sequence, with gradients. Which patterns run and how:
``halo.py`` (SlidingWindow, DilatedSlidingWindow, Neighborhood, Longformer) and ``bigbird.py`` (BigBird).
"""

from __future__ import annotations

from torch import Tensor

from genoattn.attention.context_parallel.bigbird import attend_bigbird
from genoattn.attention.context_parallel.halo import attend_halo
from genoattn.attention.context_parallel.shards import Shards
from genoattn.attention.patterns import BigBird, DilatedSlidingWindow, Longformer, Neighborhood, SlidingWindow
from genoattn.errors import InputError

HALO_PATTERNS = (SlidingWindow, DilatedSlidingWindow, Neighborhood, Longformer)
SHARDED_PATTERNS = (*HALO_PATTERNS, BigBird)


def unsupported_reason(spec: object, alibi: bool = False) -> str | None:
    """Why ``spec`` cannot run context-parallel (None when it can); ``alibi``: with ALiBi positions."""
    if not isinstance(spec, SHARDED_PATTERNS):
        names = ", ".join(p.__name__ for p in SHARDED_PATTERNS)
        return (f"{type(spec).__name__} has no context-parallel form (its keys are not a bounded halo plus global "
                f"tokens); supported: {names}")
    if alibi and isinstance(spec, Longformer) and spec.global_tokens:
        return "Longformer's global tokens with ALiBi: the gathered global keys would get wrong distances"
    return None


def attend_sharded(q: Tensor, k: Tensor, v: Tensor, pattern: object, shards: Shards, backend: str = "auto",
                   alibi_slopes: Tensor | None = None) -> Tensor:
    """Outputs [B, H, n, Dv] of this rank's queries q [B, H, n, D] under ``pattern`` over the whole sequence of
    ``shards.length`` tokens; k, v [B, H, n, .] are this rank's keys and values (n = shards.size).

    Every rank of ``shards.group`` must make the same calls. ``backend`` runs the halo patterns' local attention;
    BigBird runs its rows itself (module doc of bigbird.py).
    """
    reason = unsupported_reason(pattern, alibi_slopes is not None)
    if reason is not None:
        raise InputError(f"context parallel: {reason}")
    if q.shape[-2] != shards.size:
        raise InputError(f"context parallel: rank {shards.rank} holds {shards.size} tokens, got q {tuple(q.shape)}")
    assert isinstance(pattern, SHARDED_PATTERNS)  # unsupported_reason refused the others
    pattern.check_length(shards.length)
    if isinstance(pattern, BigBird):
        return attend_bigbird(q, k, v, pattern, shards, alibi_slopes)
    return attend_halo(q, k, v, pattern, shards, backend, alibi_slopes)
