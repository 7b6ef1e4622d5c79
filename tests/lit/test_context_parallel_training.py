"""Training from the CLI with context_parallel 2 on 2 gloo processes gives the single-process losses."""

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
