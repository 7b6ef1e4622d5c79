"""Triton block-table backend: BigBird on a kernel that walks whole key blocks, with its global rows on SDPA.

BigBird (L a multiple of the block b, at least 3 blocks) splits by rows, so no merge over the long dimension:

- rows 1 .. nb-2 (``genoattn.attention.kernels.block_table_triton``): each query block against its table of
  key blocks (``kernels.block_tables``: window, the two global blocks, its random blocks; 5 + r, or 4 + r next to a
  global row), every block wholly visible: no masks, and every program has the same few blocks to walk;
- the global rows 0 and nb-1 against every key: dense flash calls over key chunks
  (``genoattn.attention.dense_flash.EdgeRows``), so that many programs share those long rows, merged by
  log-sum-exp straight into the output by one kernel (``edge_rows_merge_kernel``; a handful of PyTorch ops
  there cost more host time per call than the GPU spends on the whole forward at 64k).

Backward from the final output and log-sum-exp (``kernels.block_table_launch``): the global rows' flash backward gives
their dQ and their share of dK, dV for every key; the dQ kernel walks the forward's table; the dK/dV kernel adds the
other rows' share, one program per key block and the rows that see it, except for the two global key blocks, which
every row sees: their rows are split over ``slots`` programs each, whose float32 partial sums are added afterwards
(deterministic). With gradients (and under ``torch.compile``) it runs as the custom op
``genoattn::block_table_attention`` (``kernels.ops``).

Runs where the Triton band backend does (CUDA, or CPU under ``TRITON_INTERPRET=1`` for the tests); no ALiBi.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genoattn.attention.kernels.block_tables import BlockTables, bigbird_tables
from genoattn.attention.kernels.launch import TritonBackend, tensor_reason
from genoattn.attention.patterns import BigBird, Pattern


@torch.compiler.assume_constant_result
def _tables(pattern: BigBird, length: int, heads: int, device: torch.device) -> BlockTables:
    """``bigbird_tables`` (cached); constants of a graph ``torch.compile`` traces (they are built with
    data-dependent shapes, which a graph cannot hold)."""
    return bigbird_tables(pattern, length, heads, device)


class TritonBlocksBackend(TritonBackend):
    name = "triton_blocks"

    def can_run(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None
    ) -> str | None:
        if type(pattern) is not BigBird:
            return f"{type(pattern).__name__} has no block-table plan here (BigBird)"
        length, b = q.shape[2], pattern.block_size
        if length % b:
            return f"L={length} is not a multiple of the block ({b})"
        if length // b < 3:
            return f"needs at least 3 blocks of {b}, got {length // b} (all rows global: dense attention)"
        if b < 16 or b & (b - 1):
            return f"the block must be a power of two >= 16 (whole kernel tiles), got {b}"
        if alibi_slopes is not None:
            return "no ALiBi"
        reason = tensor_reason(q, k, v)
        if reason:
            return reason
        if q.is_cuda and q.dtype == torch.float32:
            return "the global rows run on SDPA's flash kernel: float16 / bfloat16 on CUDA"
        bigbird_tables(pattern, length, q.shape[1], q.device)  # cached; InputError for a layout that does not fit
        return None

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, pattern: Pattern, alibi_slopes: Tensor | None = None
    ) -> Tensor:
        from genoattn.attention.kernels import block_table_launch, ops

        assert isinstance(pattern, BigBird), "can_run admits BigBird only"
        tables = _tables(pattern, q.shape[2], q.shape[1], q.device)
        if torch.compiler.is_compiling() or (torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))):
            return ops.block_table_attention(q, k, v, *ops.table_tensors(tables), pattern.block_size,
                                             tables.slots)[0]
        return block_table_launch.block_table_forward(q, k, v, tables, pattern.block_size)[0]  # no op dispatch


backend = TritonBlocksBackend()
