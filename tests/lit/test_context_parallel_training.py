"""Training from the CLI with context_parallel 2 on 2 gloo processes gives the single-process losses; on 4 processes
(2 data-parallel groups of 2) it gives the losses of plain DDP on 2."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.lit.conftest import make_tiny_config

ROOT = Path(__file__).resolve().parents[2]


def train_losses(tiny_genome, root: Path, trainer: dict | None = None, **net: object) -> list[float]:
    config = make_tiny_config(tiny_genome, root, max_steps=4, val_check_interval=2, limit_test_batches=1,
                              log_every_n_steps=1, **(trainer or {}))
    config["model"]["net"]["init_args"].update(net, attention={
        "class_path": "genoattn.attention.patterns.Longformer", "init_args": {"window": 8, "global_tokens": [0]}})
    config["model"]["net"]["init_args"]["backend"] = "blocked"
    root.mkdir(parents=True, exist_ok=True)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "genoattn.train", "--config", str(path)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.DictReader(next(root.rglob("metrics.csv")).open()))
    return [float(r["train/loss_step"]) for r in rows if r.get("train/loss_step")]


@pytest.mark.slow
def test_two_process_context_parallel_training_matches_one_process(tiny_genome, tmp_path):
    one = train_losses(tiny_genome, tmp_path / "one")
    two = train_losses(tiny_genome, tmp_path / "two", {"devices": 2, "strategy": "ddp"}, context_parallel=2)
    assert len(one) == len(two) == 4
    assert two == pytest.approx(one, rel=1e-4)


@pytest.mark.slow
def test_data_parallel_groups_of_context_parallel_ranks_match_plain_ddp(tiny_genome, tmp_path):
    ddp = train_losses(tiny_genome, tmp_path / "ddp", {"devices": 2, "strategy": "ddp"})
    groups = train_losses(tiny_genome, tmp_path / "groups", {"devices": 4, "strategy": "ddp"}, context_parallel=2)
    assert len(ddp) == len(groups) == 4
    assert groups == pytest.approx(ddp, rel=1e-4)


def test_context_parallel_strategy_and_process_counts():
    from genoattn.errors import ConfigError
    from genoattn.lit.strategy import ContextParallelDDP, check_world, context_parallel_strategy, requested_processes

    assert isinstance(context_parallel_strategy("ddp", 2), ContextParallelDDP)
    assert context_parallel_strategy("auto", 4).context_parallel == 4
    with pytest.raises(ConfigError, match="^trainer.strategy: a context-parallel model"):
        context_parallel_strategy("fsdp", 2)
    with pytest.raises(ConfigError, match="must divide the number of processes"):
        check_world(6, 4)
    assert [requested_processes(d, n) for d, n in [(2, 1), ("4", 2), ([0, 1], None), ("auto", 1), (-1, 1)]] == [
        2, 8, 2, None, None]
