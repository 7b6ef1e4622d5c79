"""analysis.params and analysis.checkpoint: size parameter, repository root, shipped-or-trained checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from genoattn.analysis import checkpoint as ck
from genoattn.analysis.params import config_data, notebook_size, repo_root, work_dir
from genoattn.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_notebook_size(monkeypatch):
    monkeypatch.delenv("GENOATTN_NOTEBOOK_SIZE", raising=False)
    assert notebook_size() == "full"
    monkeypatch.setenv("GENOATTN_NOTEBOOK_SIZE", " Tiny ")
    assert notebook_size() == "tiny"
    monkeypatch.setenv("GENOATTN_NOTEBOOK_SIZE", "huge")
    with pytest.raises(ConfigError, match="GENOATTN_NOTEBOOK_SIZE='huge': expected one of tiny, full"):
        notebook_size()


def test_repo_root_and_work_dir(tmp_path, monkeypatch):
    assert repo_root(REPO / "notebooks") == REPO
    with pytest.raises(ConfigError, match="not inside a genoattn checkout"):
        repo_root(tmp_path)
    monkeypatch.setenv("GENOATTN_NOTEBOOK_WORKDIR", str(tmp_path / "w"))
    assert work_dir(REPO) == tmp_path / "w" and (tmp_path / "w").is_dir()


def test_training_arguments_make_data_paths_absolute(tmp_path):
    args = ck.training_arguments(REPO, ck.QUICKSTART, {"trainer.max_steps": 3}, tmp_path)
    assert args[:2] == ["--config", str(REPO / "configs" / "quickstart.yaml")]
    flags = dict(zip(args[2::2], args[3::2]))
    assert flags["--data.fasta"] == str(REPO / "data" / "ecoli_prokka" / "genome.fa.gz")
    assert flags["--trainer.max_steps"] == "3" and flags["--trainer.max_time"] == "null"
    assert flags["--run_test"] == "false" and flags["--checkpoint.dirpath"] == str(tmp_path / "checkpoints")


def test_shipped_checkpoint_wins(tmp_path):
    (tmp_path / "models").mkdir()
    assert ck.shipped_checkpoint(tmp_path) is None
    (tmp_path / "models" / "coding.ckpt").write_bytes(b"x")
    found = ck.analysis_checkpoint(tmp_path, "tiny", tmp_path / "work")
    assert found.shipped and found.path == tmp_path / "models" / "coding.ckpt"
    assert found.description == "shipped model models/coding.ckpt" and found.name == "shipped model coding.ckpt"


def test_trained_once_then_reused(tmp_path, monkeypatch):
    calls = []

    def fake_run(args):
        calls.append(args)
        out = Path(args[args.index("--checkpoint.dirpath") + 1])
        out.mkdir(parents=True)
        (out / "last.ckpt").write_bytes(b"weights")
        return {}

    monkeypatch.setattr("genoattn.train.run", fake_run)
    repo = tmp_path / "repo"  # a checkout without models/
    (repo / "configs").mkdir(parents=True)
    (repo / "configs" / "quickstart.yaml").write_text((REPO / "configs" / "quickstart.yaml").read_text())
    first = ck.analysis_checkpoint(repo, "tiny", tmp_path / "work")
    again = ck.analysis_checkpoint(repo, "tiny", tmp_path / "work")
    assert len(calls) == 1 and first.path == again.path and first.path.name == "last.ckpt"
    assert not first.shipped and "20 steps" in first.description and first.name == "quickstart trained 20 steps"
    with pytest.raises(ConfigError, match="notebook size 'big'"):
        ck.analysis_checkpoint(repo, "big", tmp_path)


def test_config_data_paths_are_absolute(tmp_path):
    data = config_data(REPO, "configs/quickstart.yaml")
    assert data["fasta"] == str(REPO / "data" / "ecoli_prokka" / "genome.fa.gz") and data["window"] == 4096
    with pytest.raises(ConfigError, match="cannot read the config's data section"):
        config_data(tmp_path, "missing.yaml")
