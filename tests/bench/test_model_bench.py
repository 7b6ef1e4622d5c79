"""The model benchmark's FLOP count, doubling search and CPU step timing."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from genoattn.attention.patterns import Full, SlidingWindow
from genoattn.bench import model as bench
from genoattn.bench.attention_pairs import visible_pairs


def test_train_flops_match_counted_matmuls_for_full_attention():
    """Full attention on the reference backend is plain matmuls: the analytic count is 3 x what PyTorch counts
    for one forward, up to the norms and biases the count leaves out."""
    net = bench.build_model(Full(), {"d_model": 32, "num_layers": 2, "num_heads": 2, "mlp_ratio": 2.0,
                                     "dropout": 0.0}, backend="reference")
    ids = torch.randint(1, 5, (1, 256))
    with FlopCounterMode(display=False) as counter:
        net(ids)
    counted = counter.get_total_flops()
    assert abs(bench.train_flops(net, 256) / 3 - counted) / counted < 0.03


def test_attention_flops_follow_visible_pairs():
    pattern = SlidingWindow(8)
    assert bench.attention_flops(pattern, 100, 4, 16) == 4 * 16 * visible_pairs(pattern, 100, 4)
    assert bench.attention_flops(Full(), 64, 2, 8) == 4 * 8 * 64 * 64 * 2


def test_doubling_and_longest():
    assert bench.doubling(1024, 8192) == [1024, 2048, 4096, 8192]
    assert bench.doubling(1024, 3000) == [1024, 2048]
    rows = [bench.StepCost("a", 1024, 1024, 1), bench.StepCost("a", 2048, 2048, 1, status="oom"),
            bench.StepCost("b", 1024, 1024, 1, status="oom")]
    assert bench.longest_windows(rows) == {"a": 1024, "b": 0}


def test_cost_grid_on_cpu_records_steps_and_backends():
    rows = bench.cost_grid(["sliding_window"], [256, 512], {"d_model": 16, "num_layers": 1, "num_heads": 2,
                                                           "dropout": 0.0}, batch=1, steps=1, warmup=1,
                           device=torch.device("cpu"), peak_tflops=None, max_step_s=60,
                           specs={"sliding_window": SlidingWindow(4)}, log=lambda _: None)
    assert [r.window_nt for r in rows] == [256, 512]
    assert all(r.status == "ok" and r.ms_per_step > 0 and r.tokens_per_s > 0 for r in rows)
    assert rows[0].backends == ["blocked"] and rows[0].mfu is None
