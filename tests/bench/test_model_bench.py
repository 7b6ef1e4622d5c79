"""The model benchmark's FLOP count, doubling search and CPU step timing."""

from __future__ import annotations

import pytest
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


TINY = {"d_model": 16, "num_layers": 1, "num_heads": 2, "dropout": 0.0}


def test_grid_runs_the_targets_first():
    from genoattn.bench.model_grid import Cell, grid

    cells = grid(["gpu", "d512"], ["sliding_window", "bigbird", "full"], [16384, 65536, 1 << 20],
                 ["eager", "cuda_graphs"])
    assert cells[:3] == [Cell("d512", "full", 65536), Cell("d512", "sliding_window", 65536),
                         Cell("gpu", "sliding_window", 1 << 20)]
    assert cells[3:6] == [Cell("gpu", "bigbird", 65536), Cell("gpu", "full", 65536),
                          Cell("gpu", "sliding_window", 65536)]
    graphs = [c for c in cells if c.step_mode == "cuda_graphs"]
    first_graph = cells.index(graphs[0])
    assert graphs[0] == Cell("gpu", "full", 65536, "cuda_graphs")
    assert all(c.step_mode == "eager" and c.window <= 65536 for c in cells[3:first_graph])
    assert len(cells) == 2 * 3 * 3 * 2
    three = grid(["gpu"], ["sliding_window"], [65536, 1 << 20], ["eager", "cuda_graphs", "compile"])
    assert [(c.window, c.step_mode) for c in three] == [(1 << 20, "eager"), (65536, "eager"), (65536, "cuda_graphs"),
                                                        (65536, "compile"), (1 << 20, "compile"),
                                                        (1 << 20, "cuda_graphs")]


def test_configs_come_from_the_gpu_config_file():
    from genoattn.bench.model_grid import default_configs

    configs = default_configs()
    assert configs["gpu"]["d_model"] == 256 and configs["gpu"]["num_layers"] == 6
    assert configs["d512"] == {**configs["gpu"], "d_model": 512}
    assert "attention" not in configs["gpu"] and "backend" not in configs["gpu"]


def test_dense_choice_tries_every_kernel_once_then_keeps_the_fastest():
    from genoattn.bench.model_grid import Cell, DenseChoice

    choice = DenseChoice()
    cell = Cell("gpu", "full", 65536)
    assert choice.kernels(cell) == ("sdpa", "sdpa_cudnn", "sdpa_efficient")
    choice.record(cell, {"sdpa": 3.0, "sdpa_cudnn": 2.0, "sdpa_efficient": float("nan")})
    assert choice.kernels(Cell("gpu", "full", 16384)) == ("sdpa_cudnn",)
    assert len(choice.kernels(Cell("d512", "full", 16384))) == 3
    choice.record(Cell("d512", "full", 16384), {"sdpa": float("nan")})  # none ran: try them all again
    assert len(choice.kernels(Cell("d512", "full", 65536))) == 3


def test_run_grid_on_cpu_rows_skips_and_refusals():
    from genoattn.bench.model_grid import Cell, DenseChoice, GridRun, run_grid

    cells = [Cell("gpu", "full", 64), Cell("gpu", "sliding_window", 64), Cell("gpu", "full", 128),
             Cell("gpu", "sliding_window", 64, "cuda_graphs")]
    run = GridRun(steps=1, warmup=1, dense_max_length=64, dense_backend="reference", cell_timeout=0)
    rows = run_grid(cells, {"gpu": TINY}, run, torch.device("cpu"), None,
                    specs={"full": Full(), "sliding_window": SlidingWindow(4)}, choice=DenseChoice(),
                    log=lambda _: None)
    dense = rows[:3]
    assert [r.sdpa_backend for r in dense] == ["sdpa", "sdpa_cudnn", "sdpa_efficient"]
    assert all(r.status == "ok" and r.config == "gpu" and r.backends == ["reference"] for r in dense)
    assert rows[3].status == "ok" and rows[3].pattern == "sliding_window"
    assert rows[4].status.startswith("skipped: dense model capped") and rows[4].window_nt == 128
    assert rows[5].status == "refused: CUDA graphs need a CUDA device, got cpu"
    late = run_grid(cells[:1], {"gpu": TINY}, GridRun(deadline=-1.0), torch.device("cpu"), None,
                    specs={"full": Full()}, log=lambda _: None)
    assert all(r.status.startswith("skipped: deadline") for r in late) and len(late) == 3


def test_compiled_step_trains_on_cpu():
    """torch.compile (aot_eager: no C++ compiler needed) traces the model through the blocked backend."""
    from genoattn.bench.train_step import make_step

    torch.manual_seed(0)
    net = bench.build_model(SlidingWindow(4), TINY)
    before = [p.detach().clone() for p in net.parameters()]
    ids, labels = torch.randint(1, 5, (1, 64)), torch.randint(0, 2, (1, 64))
    step = make_step(net, ids, labels, "compile", compile_backend="aot_eager")
    step()
    step()
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert all(p.grad is None for p in net.parameters())


def test_cuda_graphs_refused_on_cpu():
    from genoattn.bench.train_step import StepModeUnavailableError, make_step

    net = bench.build_model(SlidingWindow(4), TINY)
    ids = torch.randint(1, 5, (1, 64))
    with pytest.raises(StepModeUnavailableError, match="CUDA graphs need a CUDA device"):
        make_step(net, ids, ids % 2, "cuda_graphs")


def test_cli_dry_run_on_cpu_writes_rows_and_summary(tmp_path):
    import json

    rows = bench.main(["--out", str(tmp_path), "--configs", "custom", "--d-model", "16", "--layers", "1",
                       "--heads", "2", "--patterns", "sliding_window", "--lengths", "256", "--steps", "1",
                       "--warmup", "1", "--cuda-graphs", "--device", "cpu"])
    assert [(r.step_mode, r.status.split(":")[0]) for r in rows] == [("eager", "ok"), ("cuda_graphs", "refused")]
    saved = json.loads((tmp_path / "model.json").read_text())
    assert saved["meta"]["step_modes"] == ["eager", "cuda_graphs"] and len(saved["rows"]) == 2
    summary = (tmp_path / "summary.md").read_text()
    assert "not measured" in summary and "| sliding_window |" in summary and "refused" in summary


def test_summary_targets_from_fake_rows():
    from genoattn.bench.model_summary import targets

    rows = [bench.StepCost("sliding_window", 65536, 65536, 1, ms_per_step=100.0, mfu=0.45, config="d512"),
            bench.StepCost("longformer", 65536, 65536, 1, ms_per_step=100.0, mfu=0.30, config="d512"),
            bench.StepCost("sliding_window", 1 << 20, 1 << 20, 1, ms_per_step=1200.0, config="gpu")]
    text = "\n".join(targets(rows))
    assert "d512 sliding_window at 65,536 nt: MFU 45% (meets 40%)" in text
    assert "d512 longformer at 65,536 nt: MFU 30% (below 40%)" in text
    assert "d512 neighborhood at 65,536 nt: not measured" in text
    assert "gpu sliding_window at 1,048,576 nt: 1200 ms/step (over 1000 ms)" in text
