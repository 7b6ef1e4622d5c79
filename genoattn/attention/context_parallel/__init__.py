"""Context parallelism: one sequence's tokens sharded over the ranks of a process group (docs/design.md 2.6).

``Shards`` (which tokens each rank holds), ``attend_sharded`` (attention of a rank's queries over the whole
sequence, exact and differentiable), ``unsupported_reason`` (which patterns can), the differentiable exchanges in
``collectives``.
"""

from genoattn.attention.context_parallel.attend import SHARDED_PATTERNS, attend_sharded, unsupported_reason
from genoattn.attention.context_parallel.shards import Shards

__all__ = ["SHARDED_PATTERNS", "Shards", "attend_sharded", "unsupported_reason"]
