"""The comparison pipeline at CPU-tiny size (configs/compare/cpu_tiny.yaml): every pattern trains and is scored,
rows resume, failures are rows, results and plots are written."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from genoattn.bench.plot_compare import pareto_front
from pipelines import compare

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "compare" / "cpu_tiny.yaml"


def _compare(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.compare", "--config", str(CONFIG), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("name", ["cpu_tiny.yaml", "gpu.yaml"])
def test_compare_configs_build_every_pattern_and_task(name):
    config = compare.load_config(CONFIG.parent / name)
    specs = {p: compare.attention_spec(entry) for p, entry in config["patterns"].items()}
    assert len(specs) == 10
    for task in config["tasks"].values():
        tokens = task["window"] // config["model"]["patch_size"]
        for spec in specs.values():
            if hasattr(spec, "check_length"):
                spec.check_length(tokens)
    assert len(compare.grid(config)) >= 10 * 3


def test_grid_has_every_pattern_task_and_band():
    config = compare.load_config(CONFIG)
    runs = compare.grid(config)
    assert len(config["patterns"]) == 10
    assert len(runs) == 10 * len(config["tasks"])  # one band per motif task in the tiny config
    assert len({r.key for r in runs}) == len(runs)
    assert compare.grid(config, tasks=["coding"], patterns=["full"]) == [compare.Run("coding", "full")]


@pytest.mark.slow
def test_cpu_tiny_comparison_runs_every_pattern_and_resumes(tmp_path):
    out = tmp_path / "compare"
    first = _compare("--out", str(out), "--tasks", "motif_pairs_token", "--workers", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    second = _compare("--out", str(out), "--tasks", "coding", "mlm", "motif_pairs", "--patterns", "sliding_window",
                      "--no-cost")
    assert second.returncode == 0, second.stderr[-3000:]
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["pattern"] for r in rows if r["task"] == "motif_pairs_token"} == set(compare.load_config(CONFIG)[
        "patterns"])
    assert {r["task"] for r in rows} == {"motif_pairs_token", "motif_pairs", "coding", "mlm"}
    bad = [(r["task"], r["pattern"], r["status"]) for r in rows if r["status"] != "ok"]
    assert not bad
    for r in rows:
        assert 0.0 <= float(r["metric"]) <= 1.0 and int(r["steps"]) == 4
        if r["task"].startswith("motif"):
            assert 0.0 <= float(r["pair_auroc"]) <= 1.0 and r["band_lo"] == "100"
    cost = list(csv.DictReader(open(out / "cost.csv")))
    assert {r["pattern"] for r in cost} == {r["pattern"] for r in rows}
    assert all(r["status"] == "ok" for r in cost)
    for name in ("results.md", "provenance.json", "config.yaml", "accuracy_vs_distance.png",
                 "accuracy_vs_cost.png"):
        assert (out / name).exists(), name
    assert json.loads((out / "provenance.json").read_text())["commit"]

    # resume: nothing left to run; a failed row is retried only with --rerun-failed
    row_file = out / "rows" / "coding__sliding_window.json"
    row_file.write_text(json.dumps({**json.loads(row_file.read_text()), "status": "failed: injected"}))
    again = _compare("--out", str(out), "--tasks", "coding", "--patterns", "sliding_window", "--no-cost")
    assert again.returncode == 0 and "injected" in again.stdout
    retried = _compare("--out", str(out), "--tasks", "coding", "--patterns", "sliding_window", "--no-cost",
                       "--rerun-failed")
    assert retried.returncode == 0 and json.loads(row_file.read_text())["status"] == "ok"


def test_bad_config_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {}\nbudget: {steps: 1}\npatterns: {}\ntasks: {x: {kind: nope, window: 8}}\n")
    result = subprocess.run([sys.executable, "-m", "pipelines.compare", "--config", str(bad)], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "bad.yaml" in result.stderr and "kind" in result.stderr


def test_a_task_may_change_pooling_but_not_the_model_size(tmp_path):
    from genoattn.errors import ConfigError

    config = compare.load_config(CONFIG)
    assert config["tasks"]["motif_pairs"]["model"] == {"pooling": "max"}
    bad = tmp_path / "wide.yaml"
    bad.write_text("model: {}\nbudget: {steps: 1}\npatterns: {}\n"
                   "tasks: {x: {kind: genome, window: 8, model: {d_model: 512}}}\n")
    with pytest.raises(ConfigError, match=r"tasks.x.model may set only \['pooling'\]"):
        compare.load_config(bad)


def test_pareto_front_keeps_undominated_points():
    points = [(1.0, 0.6), (2.0, 0.9), (3.0, 0.8), (0.5, 0.5), (2.5, 0.95)]
    assert pareto_front(points) == [(0.5, 0.5), (1.0, 0.6), (2.0, 0.9), (2.5, 0.95)]
