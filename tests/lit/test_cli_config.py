"""The training command line: every misspelt config key named with its file, one-line errors, batch limits
written as integers stay integers."""

from __future__ import annotations

import sys

import pytest
import yaml

from genoattn.data.datamodule import GenomeDataModule
from genoattn.errors import ConfigError
from genoattn.lit.config_keys import integer_limits
from genoattn.lit.module import GenomeLitModule
from genoattn.train import GenoattnCLI, main


def train_error(monkeypatch, capsys, *args: str) -> str:
    """Run ``python -m genoattn.train ARGS`` in-process; return its one stderr line (exit status 2)."""
    monkeypatch.setattr(sys, "argv", ["genoattn.train", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1, err
    assert err[0].startswith("genoattn.train: error: ")
    return err[0]


def test_every_unknown_key_is_named_with_its_file(tiny_config, tmp_path, monkeypatch, capsys):
    _, path = tiny_config()
    typos = tmp_path / "typos.yaml"
    typos.write_text(yaml.safe_dump({
        "trainer": {"max_step": 5, "logger": [{"class_path": "pytorch_lightning.loggers.CSVLogger",
                                               "init_args": {"save_dirr": "x"}}]},
        "model": {"warmup_step": 3, "net": {"init_args": {"d_modle": 8,  # class_path from tiny.yaml
                                                          "attention": {"init_args": {"windo": 4}}}}},
        "data": {"windw": 512},
        "chekpoint": {"monitor": "val/auroc"},
    }))
    message = train_error(monkeypatch, capsys, "--config", path, "--config", typos)
    assert f"unknown config keys: {typos}: " in message and str(path) not in message  # tiny.yaml is fine
    for expected in ["trainer.max_step (did you mean trainer.max_steps?)",
                     "trainer.logger[0].init_args.save_dirr (did you mean trainer.logger[0].init_args.save_dir?)",
                     "model.warmup_step (did you mean model.warmup_steps?)",
                     "model.net.init_args.d_modle (did you mean model.net.init_args.d_model?)",
                     "model.net.init_args.attention.init_args.windo (did you mean "
                     "model.net.init_args.attention.init_args.window?)",
                     "data.windw (did you mean data.window?)", "chekpoint (did you mean checkpoint?)"]:
        assert expected in message


def test_a_bad_value_is_one_line_without_the_usage(tiny_config, monkeypatch, capsys):
    _, path = tiny_config()
    message = train_error(monkeypatch, capsys, "--config", path, "--model.net.init_args.d_model", "wide")
    assert "d_model" in message and "wide" in message and "--help" in message


def test_integer_limits_from_files_and_flags(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("trainer:\n  limit_val_batches: 1\n  limit_test_batches: 0.5\n  val_check_interval: 300\n")
    args = ["--config", str(config), "--trainer.limit_train_batches", "1", "--trainer.overfit_batches=0.1",
            "--trainer.limit_test_batches=2"]
    assert integer_limits(args) == {"trainer.limit_val_batches": 1, "trainer.val_check_interval": 300,
                                    "trainer.limit_train_batches": 1, "trainer.limit_test_batches": 2}


def test_limit_of_one_batch_means_one_batch(tiny_config):
    """``--trainer.limit_val_batches 1`` reached the Trainer as 1.0 (every batch) before."""
    _, path = tiny_config()
    cli = GenoattnCLI(GenomeLitModule, GenomeDataModule, run=False, parser_kwargs={"exit_on_error": False},
                      args=["--config", str(path), "--trainer.limit_val_batches", "1",
                            "--trainer.limit_test_batches", "1.0"])
    assert cli.trainer.limit_val_batches == 1 and isinstance(cli.trainer.limit_val_batches, int)
    assert cli.trainer.limit_test_batches == 1.0 and isinstance(cli.trainer.limit_test_batches, float)


def test_unreadable_config_file_is_named(tmp_path):
    from genoattn.lit.config_keys import check_config_files

    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: cannot read this config file"):
        check_config_files({"trainer.max_steps"}, ["--config", str(bad)])
