"""One run, one log folder; failed starts leave none; quiet output, a progress bar that counts to max_steps, and a
test phase bounded by the time budget."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from pytorch_lightning.callbacks import Timer

from genoattn.errors import GenoattnError
from genoattn.lit.run_folders import RunFolders, next_version
from genoattn.train import run, time_limit_for_test

REPO = Path(__file__).resolve().parents[2]
NOISE = ("litlogger", "LeafSpec", "weights_only", "Loading `train_dataloader`", "Traceback")


def test_a_run_writes_one_folder_quietly_and_its_test_obeys_the_time_budget(tiny_config, tmp_path):
    config, path = tiny_config(enable_progress_bar=True)
    del config["trainer"]["logger"]  # genoattn's defaults: CSV and TensorBoard
    config["test_max_time"] = "00:00:00:00"  # no time left: the test stops after its first batch
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run([sys.executable, "-m", "genoattn.train", "--config", str(path)], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    logs = tmp_path / "run" / "lightning_logs"
    [folder] = logs.iterdir()
    assert folder.name == "version_0"
    assert (folder / "metrics.csv").exists() and list(folder.glob("events.out.tfevents.*"))
    assert (folder / "checkpoints" / "last.ckpt").exists()
    assert not [noise for noise in NOISE if noise in result.stderr]
    bars = result.stdout + result.stderr  # Lightning draws its bars on stdout
    assert "6/6 [" in bars and "/8 [" not in bars  # 8 batches an epoch, max_steps 6
    summary = json.loads((folder / "checkpoints" / "test_metrics.json").read_text())
    assert summary["test_stopped"] == {"batches": 1, "of": 2, "after_s": 0.0}
    assert "the test stopped after 1 of 2 batches" in result.stdout


def test_failed_start_leaves_no_folder_and_keeps_earlier_runs(tiny_config, tmp_path):
    _, path = tiny_config(max_steps=1, val_check_interval=1)
    root = tmp_path / "run"
    with pytest.raises(GenoattnError, match="window 100000 is longer than every contig"):
        run(["--config", str(path), "--data.window", "100000"])
    assert not root.exists()
    run(["--config", str(path), "--run_test", "false", "--trainer.logger+=TensorBoardLogger",
         f"--trainer.logger.save_dir={root}"])
    with pytest.raises(GenoattnError):
        run(["--config", str(path), "--data.window", "100000", "--trainer.logger+=TensorBoardLogger",
             f"--trainer.logger.save_dir={root}"])
    assert sorted(p.name for p in (root / "lightning_logs").iterdir()) == ["version_0"]  # both loggers' one folder
    assert (root / "lightning_logs" / "version_0" / "metrics.csv").exists()


def test_run_folders_share_the_next_free_version(tmp_path):
    (tmp_path / "logs" / "lightning_logs" / "version_3").mkdir(parents=True)
    (tmp_path / "tb" / "lightning_logs" / "version_5").mkdir(parents=True)
    assert next_version([tmp_path / "logs" / "lightning_logs", tmp_path / "missing"]) == 4
    loggers = [SimpleNamespace(class_path="pytorch_lightning.loggers.CSVLogger",
                               init_args={"save_dir": str(tmp_path / "logs"), "name": None, "version": None}),
               SimpleNamespace(class_path="pytorch_lightning.loggers.TensorBoardLogger",
                               init_args={"save_dir": str(tmp_path / "tb"), "version": None})]
    folders = RunFolders()
    folders.share_version(loggers)
    assert [logger.init_args["version"] for logger in loggers] == [6, 6]
    (tmp_path / "logs" / "lightning_logs" / "version_6" / "checkpoints").mkdir(parents=True)
    (tmp_path / "logs" / "lightning_logs" / "version_6" / "checkpoints" / "best.ckpt").write_bytes(b"")
    (tmp_path / "tb" / "lightning_logs" / "version_6").mkdir()
    assert folders.remove_if_unused() == [tmp_path / "tb" / "lightning_logs" / "version_6"]  # the checkpoint stays


def test_the_test_gets_what_max_time_leaves(monkeypatch):
    timer = Timer(duration="00:00:10:00")
    monkeypatch.setattr(timer, "time_remaining", lambda *a, **k: 42.0)
    trainer = SimpleNamespace(callbacks=[timer])
    assert time_limit_for_test(trainer, None).seconds == 42.0
    assert time_limit_for_test(trainer, "00:00:01:30").seconds == 90.0
    assert time_limit_for_test(SimpleNamespace(callbacks=[]), None) is None  # no max_time: no limit
