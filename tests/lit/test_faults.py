"""Faults and scale-out: SIGKILL mid-epoch then resume; DDP with 2 CPU processes (gloo)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from genoattn.train import run

REPO = Path(__file__).resolve().parents[2]


def test_sigkill_mid_epoch_then_resume_keeps_optimizer_state_and_step(tiny_config, tmp_path):
    config, path = tiny_config(max_steps=400, val_check_interval=4, log_every_n_steps=1)
    ckpt_dir = tmp_path / "ckpts"
    config["checkpoint"] = {
        "dirpath": str(ckpt_dir), "every_n_train_steps": 3, "save_last": True, "monitor": None, "save_top_k": 0,
    }
    config["data"]["train_windows_per_epoch"] = 4000  # one long epoch, so the kill lands mid-epoch
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "genoattn.train", "--config", str(path)], cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    last = None
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            found = list(ckpt_dir.glob("last.ckpt"))
            if found:
                step = torch.load(found[0], map_location="cpu", weights_only=False)["global_step"] if found else 0
                if step >= 6:
                    last = found[0]
                    break
            time.sleep(0.5)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert last is not None, proc.stderr.read().decode()[-2000:]
    saved = torch.load(last, map_location="cpu", weights_only=False)
    assert saved["loops"]["fit_loop"]["epoch_progress"]["current"]["completed"] == 0  # killed mid-epoch

    # Resume for 3 more steps: the step count and AdamW's per-parameter state must continue from the
    # checkpoint (a fresh optimizer would restart its step counters at 0).
    resumed_steps = saved["global_step"] + 3
    config["trainer"]["max_steps"] = resumed_steps
    path.write_text(yaml.safe_dump(config))
    run(["--config", str(path), "--ckpt_path", str(last), "--run_test", "false"])
    final = torch.load(last, map_location="cpu", weights_only=False)
    assert final["global_step"] == resumed_steps
    before, after = saved["optimizer_states"][0]["state"], final["optimizer_states"][0]["state"]
    assert before.keys() == after.keys() and len(before) > 0
    for key, state in before.items():
        assert int(after[key]["step"]) == int(state["step"]) + 3


def test_ddp_with_two_cpu_processes(tiny_config, tmp_path):
    config, path = tiny_config(devices=2, strategy="ddp", max_steps=4, val_check_interval=2)
    config["checkpoint"] = {"dirpath": str(tmp_path / "ckpts")}
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-m", "genoattn.train", "--config", str(path)], cwd=REPO, capture_output=True, text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in result.stderr + result.stdout
    final = torch.load(tmp_path / "ckpts" / "last.ckpt", map_location="cpu", weights_only=False)
    assert final["global_step"] == 4
    assert "test/auroc" in result.stdout
