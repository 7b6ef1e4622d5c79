"""genoattn.bench.context_parallel runs at tiny size on 2 gloo processes (torchrun) and writes its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_doubles_the_length_on_two_processes(tmp_path):
    out = tmp_path / "cp.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
               "-m", "genoattn.bench.context_parallel", "--window", "8", "--d-model", "16", "--layers", "1",
               "--heads", "2", "--min-length", "64", "--max-length", "256", "--steps", "1", "--backend", "blocked",
               "--out", str(out)]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["processes"] == 2
    assert [row["length"] for row in result["rows"]] == [64, 128, 256]
    assert result["longest_trained"] == 256 and all(row["tokens_per_s"] > 0 for row in result["rows"])
