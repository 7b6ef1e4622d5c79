"""Checkpoint files: read without running code from them (allow-list), written atomically, and a bad
--ckpt_path stops training with one line."""

from __future__ import annotations

import errno
import pathlib
import sys

import pytest
import torch

from genoattn.attention.patterns import Longformer, SlidingWindow
from genoattn.data.genome_set import GenomeSpec
from genoattn.errors import InputError
from genoattn.lit import checkpoint_io
from genoattn.lit.checkpoint import load_checkpoint, load_for_inference
from genoattn.lit.checkpoint_io import CheckpointWriteError, save_atomically
from genoattn.train import main, run


class RunsCode:
    """Unpickling this calls ``pathlib.Path.touch`` on a marker file: what a crafted checkpoint would do."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def test_crafted_checkpoint_is_refused_before_any_code_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "crafted.ckpt"
    torch.save({"genoattn": {"format": 1}, "state_dict": {}, "payload": RunsCode(str(marker))}, path)
    with pytest.raises(InputError) as info:
        load_for_inference(path)
    message = str(info.value)
    assert "\n" not in message and "crafted.ckpt: refused" in message and "pathlib" in message
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the unsafe load the project used to do: it runs the code
    assert marker.exists()


def test_the_allow_list_covers_what_genoattn_modules_keep(tmp_path):
    """Data and attention spec dataclasses and paths, as a module given them in Python keeps them in its
    hyper-parameters, load with weights_only=True."""
    hparams = {"genomes": [GenomeSpec("g", "g.fa")], "fasta": pathlib.Path("/data/g.fa"),
               "attention": [SlidingWindow(8), Longformer(window=4, global_tokens=(0,))]}
    path = tmp_path / "m.ckpt"
    torch.save({"datamodule_hyper_parameters": hparams, "state_dict": {"w": torch.ones(2)}}, path)
    loaded = load_checkpoint(path)
    assert loaded["datamodule_hyper_parameters"] == hparams
    torch.testing.assert_close(loaded["state_dict"]["w"], torch.ones(2))


def test_atomic_save_keeps_the_old_file_when_the_disk_fills(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    save_atomically({"step": 1, "w": torch.zeros(1000)}, path)
    before = path.read_bytes()

    class FullFile:
        def __init__(self, name, mode):
            self.fh = open(name, mode)

        def write(self, data):
            self.fh.write(bytes(data)[:100])
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(checkpoint_io, "open", FullFile, raising=False)
    with pytest.raises(CheckpointWriteError, match=r"last.ckpt: cannot write the checkpoint \(No space left on "
                                                   r"device\); the previous checkpoint is unchanged"):
        save_atomically({"step": 2, "w": torch.ones(1000)}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left


def test_full_disk_during_training_is_one_line(tiny_config, tmp_path, monkeypatch, capsys):
    """The first checkpoint write fails: exit 2 with one line and no checkpoint file under any name."""
    _, path = tiny_config()
    monkeypatch.setattr(checkpoint_io, "open", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space "
                                                                                     "left on device")), raising=False)
    monkeypatch.setattr(sys, "argv", ["genoattn.train", "--config", str(path)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line.lower()]
    assert errors == [errors[0]] and errors[0].startswith("genoattn.train: error: ")
    assert "cannot write the checkpoint (No space left on device)" in errors[0]
    assert not list((tmp_path / "run").rglob("*.ckpt*"))


@pytest.mark.parametrize("make,expected", [
    ("truncated", "not a readable PyTorch checkpoint (truncated or not a checkpoint"),
    ("foreign", "not a genoattn checkpoint"),
    ("weights-only", "cannot resume training from it: no optimizer_states, loops"),
    ("other-model", "its weights do not fit this model"),
    ("crafted", "refused: it holds Python objects"),
])
def test_bad_ckpt_path_stops_before_training_with_one_line(tiny_config, tmp_path, capsys, monkeypatch, make,
                                                           expected):
    _, config_path = tiny_config()
    path = tmp_path / "resume.ckpt"
    record = {"format": 1, "task": "token_classification"}
    if make == "truncated":
        torch.save({"genoattn": record, "state_dict": {"w": torch.zeros(10_000)}}, path)
        path.write_bytes(path.read_bytes()[:5000])
    elif make == "foreign":
        torch.save({"state_dict": {}, "epoch": 3}, path)
    elif make == "weights-only":
        torch.save({"genoattn": record, "state_dict": {}}, path)
    elif make == "other-model":
        torch.save({"genoattn": record, "state_dict": {"net.embed.weight": torch.zeros(3, 3)}, "optimizer_states": [],
                    "loops": {}}, path)
    else:
        torch.save({"genoattn": record, "x": RunsCode(str(tmp_path / "ran"))}, path)
    monkeypatch.setattr(sys, "argv", ["genoattn.train", "--config", str(config_path), "--ckpt_path", str(path)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    [line] = [line for line in err.splitlines() if line.startswith("genoattn.train: error:")]
    assert "resume.ckpt" in line and expected in line
    assert not (tmp_path / "ran").exists()
    assert not (tmp_path / "run").exists()  # failed before training: no log folder left


def test_resume_from_a_real_checkpoint_loads_it_safely(tiny_config, tmp_path):
    """--ckpt_path with a checkpoint written by training passes the check and continues from its step."""
    config, path = tiny_config(max_steps=3, val_check_interval=3)
    run(["--config", str(path), "--run_test", "false"])
    [last] = (tmp_path / "run").rglob("last.ckpt")
    assert load_checkpoint(last)["global_step"] == 3
    run(["--config", str(path), "--run_test", "false", "--trainer.max_steps", "5", "--ckpt_path", str(last)])
    resumed = last.parents[2] / "version_1" / "checkpoints" / "last.ckpt"  # the resumed run's own folder
    assert load_checkpoint(resumed)["global_step"] == 5
