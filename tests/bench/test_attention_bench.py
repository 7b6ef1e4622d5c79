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
        "--device", "cpu", "--dtype", "float32", "--lengths", "64", "128", "--heads", "2", "--head-dims", "16", "32",
        "--patterns", "sliding_window", "bigbird", "performer", "--backends", "reference", "xformers", "sdpa",
        "sdpa_cudnn", "sdpa_efficient", "--modes", "fwd", "fwdbwd", "--rep-ms", "5", "--out", str(out), "--small",
    ])
    results = json.loads((out / "results.json").read_text())
    rows = results["rows"]
    assert {r["status"] for r in rows} >= {"ok", "refused"}
    from genoattn.bench.provenance import embedded

    assert embedded(out / "results.json") == results["meta"]  # command, commit, device: a provenance record
    ok = [r for r in rows if r["status"] == "ok"]
    assert all(r["ms"] > 0 and r["useful_tflops"] > 0 for r in ok)
    assert (out / "results.csv").exists() and (out / "attention.png").exists()
    sw = [r for r in ok if r["pattern"] == "sliding_window" and r["backend"] == "reference"]
    assert len(sw) == 8 and all(r["pairs"] > 0 for r in sw) and {r["head_dim"] for r in sw} == {16, 32}
    assert [r for r in ok if r["pattern"] == "performer" and r["backend"] == "module"]
    assert any(r["pattern"] == "full" and r["backend"] == "sdpa" for r in ok)
    assert torch.isfinite(torch.tensor([r["ms"] for r in ok])).all()
    # on the CPU only the flash kernel runs: the others are refused rows with PyTorch's reason, flash is the best
    for name in ("sdpa_cudnn", "sdpa_efficient"):
        dense = [r for r in rows if r["backend"] == name]
        assert len(dense) == 8 and all(r["status"] == "refused" and "no kernel" in r["detail"] for r in dense)
    assert all(r["best_sdpa"] == "sdpa" and r["ratio_best_sdpa"] == r["ratio_sdpa"] for r in sw)
    summary = (out / "summary.md").read_text()
    assert "### D=32, fwdbwd" in summary and "| full | sdpa_cudnn | refused | refused |" in summary


def fake(backend, tflops, length=65536, mode="fwd", head_dim=64, pattern="full", status="ok"):
    from genoattn.bench.attention import Row

    ms = 1e3 / tflops if tflops else float("nan")
    return Row(pattern=pattern, key="", backend=backend, length=length, mode=mode, head_dim=head_dim, status=status,
               ms=ms, ms_sync=ms, useful_tflop=1.0, useful_tflops=tflops)


def test_ratios_to_flash_and_to_the_best_dense_kernel():
    from genoattn.bench.attention import fill_ratios

    rows = [fake("sdpa", 300), fake("sdpa_cudnn", 500), fake("sdpa_efficient", 0, status="refused"),
            fake("sdpa", 200, head_dim=128), fake("sdpa_efficient", 250, head_dim=128),
            fake("sdpa_cudnn", 400, mode="fwdbwd"),
            fake("triton_band", 250, pattern="sliding_window"),
            fake("triton_band", 300, pattern="sliding_window", head_dim=128),
            fake("triton_band", 200, pattern="sliding_window", mode="fwdbwd"),
            fake("triton_band", 100, pattern="sliding_window", length=1 << 20)]
    fill_ratios(rows)
    sw64, sw128, sw_bwd, sw_1m = rows[-4:]
    assert (sw64.ratio_best_sdpa, sw64.best_sdpa, sw64.ratio_sdpa) == (0.5, "sdpa_cudnn", 250 / 300)
    assert (sw128.ratio_best_sdpa, sw128.best_sdpa, sw128.ratio_sdpa) == (1.2, "sdpa_efficient", 1.5)
    assert sw_bwd.ratio_best_sdpa == 0.5 and sw_bwd.best_sdpa == "sdpa_cudnn"
    assert sw_bwd.ratio_sdpa != sw_bwd.ratio_sdpa  # no flash row in that mode: no ratio to flash
    assert (sw_1m.ratio_best_sdpa, sw_1m.best_sdpa_length) == (0.2, 65536)  # largest shorter length measured
    assert rows[0].ratio_best_sdpa == 0.6 and rows[1].ratio_best_sdpa == 1.0


def test_cells_run_64k_first_with_every_dense_kernel_before_the_slow_paths():
    from genoattn.bench.attention import cell_order

    cells = cell_order(["sliding_window"], ["reference", "triton_band", "sdpa", "sdpa_cudnn"], [16384, 65536],
                       ["fwd"], [64, 128])
    assert cells[:6] == [("full", "sdpa", 65536, "fwd", 64), ("full", "sdpa_cudnn", 65536, "fwd", 64),
                         ("sliding_window", "triton_band", 65536, "fwd", 64),
                         ("full", "sdpa", 65536, "fwd", 128), ("full", "sdpa_cudnn", 65536, "fwd", 128),
                         ("sliding_window", "triton_band", 65536, "fwd", 128)]
    assert len(cells) == 16 and all(not c[1].startswith("sdpa") or c[0] == "full" for c in cells)


def test_dense_sdpa_refusal_reasons():
    from genoattn.bench.dense_sdpa import call_or_refusal, dense_attention, fastest

    q = torch.randn(1, 2, 16, 8)
    out, why = call_or_refusal(lambda: dense_attention("sdpa_efficient", q, q, q))
    assert out is None and why.startswith("no kernel for this shape")
    out, why = call_or_refusal(lambda: dense_attention("sdpa", q, q, q))
    assert why is None and out.shape == q.shape
    with pytest.raises(RuntimeError, match="boom"):
        call_or_refusal(lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert fastest({"sdpa": 2.0, "sdpa_cudnn": 1.5, "sdpa_efficient": float("nan")}) == "sdpa_cudnn"
    assert fastest({"sdpa": float("nan")}) is None
