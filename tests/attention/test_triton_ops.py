"""The Triton backends' custom ops on the CPU without running a kernel: their fake implementations give the
outputs' shapes, dtypes and layouts under FakeTensorMode (what torch.compile traces with), and the bands' encoding
round-trips. The ops run for real (opcheck, torch.compile) in the interpreter scripts (test_triton_band.py,
test_triton_blocks.py)."""

from __future__ import annotations

import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from genoattn.attention.kernels import ops
from genoattn.attention.kernels.block_tables import bigbird_tables
from genoattn.attention.patterns import BigBird, Strided
from genoattn.attention.patterns.band import Band


def test_bands_round_trip_through_ints():
    bands = Strided(5).local_bands(40)
    assert ops.ints_to_bands(ops.bands_to_ints(bands)) == bands
    assert ops.bands_to_ints(Band(2, 3, 0, 0, -1)) == [2, 3, 0, 0, -1]


def test_band_ops_under_fake_tensors():
    bands = ops.bands_to_ints(Strided(5).local_bands(40))
    with FakeTensorMode():
        qkv = torch.empty(2, 40, 3, 4, 16, dtype=torch.bfloat16)
        q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))  # strided views, as a model makes them
        out, lse, row_lse = ops.band_attention(q, k, v, bands, None, None, False)
        assert out.shape == q.shape and out.dtype == torch.bfloat16
        assert lse.shape == (2, 4, 40) and lse.dtype == torch.float32 and row_lse.shape == (0,)
        positions = torch.empty(3, dtype=torch.int32)
        row_lse = ops.band_attention(q, k, v, bands[:1], torch.empty(4), positions, True)[2]
        assert row_lse.shape == (8, 3)
        grads = ops.band_attention_backward(out, q, k, v, out, lse, row_lse, bands, None, positions, False)
        assert [g.shape for g in grads] == [q.shape] * 3


def test_block_table_ops_under_fake_tensors():
    pattern = BigBird(block_size=16, random_blocks=1, seed=0)
    real = ops.table_tensors(bigbird_tables(pattern, 16 * 8, 2, torch.device("cpu")))
    slots = bigbird_tables(pattern, 16 * 8, 2, torch.device("cpu")).slots
    with FakeTensorMode() as mode:
        tables = [mode.from_tensor(t) for t in real]
        q = torch.empty(1, 2, 16 * 8, 32, dtype=torch.float16)
        out, lse = ops.block_table_attention(q, q, q, *tables, 16, slots)
        assert out.shape == q.shape and out.is_contiguous() and lse.shape == (1, 2, 128)
        grads = ops.block_table_attention_backward(out, q, q, q, out, lse, *tables, 16, slots)
        assert all(g.shape == q.shape and g.dtype == torch.float16 for g in grads)
