"""Attention backends. Each module exposes a ``Backend`` object with:

- ``name: str``
- ``can_run(q, k, v, pattern) -> str | None``: None when it can, else the reason it cannot;
- ``attend(q, k, v, pattern) -> Tensor``: q, k, v and the result are [B, H, L, D].

Backends never import each other; ``genoattn.attention.dispatch`` chooses among them.
"""

from __future__ import annotations

from typing import Protocol

from torch import Tensor


class Backend(Protocol):
    name: str

    def can_run(self, q: Tensor, k: Tensor, v: Tensor, pattern: object) -> str | None: ...

    def attend(self, q: Tensor, k: Tensor, v: Tensor, pattern: object) -> Tensor: ...
