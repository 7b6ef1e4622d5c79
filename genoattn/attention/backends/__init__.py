"""Attention backends. Each module exposes a ``Backend`` object with:

- ``name: str``
- ``can_run(q, k, v, pattern, alibi_slopes=None) -> str | None``: None when it can, else the reason;
- ``attend(q, k, v, pattern, alibi_slopes=None) -> Tensor``: q, k, v and the result are [B, H, L, D].

``alibi_slopes`` (float [H] or None) adds the bidirectional ALiBi bias ``-slope[h] * abs(i - j)`` to the
scores before the softmax; a backend that cannot add it refuses in ``can_run``.

Backends never import each other; ``genoattn.attention.dispatch`` chooses among them.
"""

from __future__ import annotations

from typing import Protocol

from torch import Tensor

from genoattn.attention.patterns import Pattern


class Backend(Protocol):
    name: str

    def can_run(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None
    ) -> str | None: ...

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None
    ) -> Tensor: ...
