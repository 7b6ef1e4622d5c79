"""Attention: mask patterns, backends behind one ``attend``, and the Performer / Routing modules.

``attend(q, k, v, pattern, backend="auto")`` with q, k, v [batch, heads, length, head_dim]; docs/design.md, 2.
``patterns`` and ``attend`` are imported eagerly (light); ``Performer`` and ``Routing`` on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from genoattn.attention import patterns
from genoattn.attention.dispatch import BACKEND_ORDER, attend, choose_backend
from genoattn.lazy import lazy_names

if TYPE_CHECKING:  # pragma: no cover
    from genoattn.attention.performer import Performer
    from genoattn.attention.routing import Routing

__getattr__ = lazy_names("genoattn.attention", {"Performer": "performer", "Routing": "routing"})


__all__ = ["BACKEND_ORDER", "Performer", "Routing", "attend", "choose_backend", "patterns"]
