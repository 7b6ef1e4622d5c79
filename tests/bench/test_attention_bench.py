"""Benchmark helpers on CPU: pair counts equal dense-mask sums; a tiny dry run writes CSV, JSON and a plot."""

from __future__ import annotations

import json

import pytest
import torch

from genoattn.attention.patterns import (
    BigBird,
    DilatedSlidingWindow,
    FixedFactorized,
    Full,
    Longformer,
    Neighborhood,
    SlidingWindow,
    Strided,
)
from genoattn.bench.attention_pairs import visible_pairs

PATTERNS = [
    Full(),
    Full(causal=True),
    SlidingWindow(6),
    SlidingWindow(4, causal=True),
    DilatedSlidingWindow(3, dilation=4),
    DilatedSlidingWindow(2, dilation=3, causal=True),
    Strided(7),
    Strided(5, causal=True),
    FixedFactorized(8, summary=3),
    FixedFactorized(6, summary=2, causal=True),
    Longformer(4, global_tokens=(0, 7, -1)),
    Longformer(3, global_tokens=(2,), dilation=(1, 3), causal=True),
    BigBird(block_size=8, random_blocks=2, seed=3),
    BigBird(block_size=5, random_blocks=1),
    Neighborhood(kernel_size=9, dilation=2),
]


@pytest.mark.parametrize("pattern", PATTERNS, ids=str)
@pytest.mark.parametrize("length", [57, 80])
def test_visible_pairs_equal_dense_mask(pattern, length):
    heads = 2
    dense = pattern.dense_mask(length, heads).expand(heads, length, length)
    assert visible_pairs(pattern, length, heads) == int(dense.sum())


def test_dry_run_writes_results(tmp_path):
    from genoattn.bench import attention as bench

    out = tmp_path / "run"
    bench.main([
        "--device", "cpu", "--dtype", "float32", "--lengths", "64", "128", "--heads", "2", "--head-dim", "16",
        "--patterns", "sliding_window", "bigbird", "performer", "--backends", "reference", "xformers", "sdpa",
        "--modes", "fwd", "fwdbwd", "--rep-ms", "5", "--out", str(out), "--small",
    ])
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert {r["status"] for r in rows} >= {"ok", "refused"}
    ok = [r for r in rows if r["status"] == "ok"]
    assert all(r["ms"] > 0 and r["useful_tflops"] > 0 for r in ok)
    assert (out / "results.csv").exists() and (out / "attention.png").exists()
    sw = [r for r in ok if r["pattern"] == "sliding_window" and r["backend"] == "reference"]
    assert len(sw) == 4 and all(r["pairs"] > 0 for r in sw)
    assert [r for r in ok if r["pattern"] == "performer" and r["backend"] == "module"]
    assert any(r["pattern"] == "full" and r["backend"] == "sdpa" for r in ok)
    assert torch.isfinite(torch.tensor([r["ms"] for r in ok])).all()
