"""Every shipped YAML parses and instantiates (pattern configs are overlays on quickstart.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from genoattn.data.datamodule import GenomeDataModule
from genoattn.lit.module import GenomeLitModule
from genoattn.train import GenoattnCLI

REPO = Path(__file__).resolve().parents[1]
# Training configs (configs/compare/ holds pipelines.compare's configs: tests/pipelines/test_compare.py parses them)
CONFIGS = sorted(p.relative_to(REPO) for p in (REPO / "configs").rglob("*.yaml") if p.parent.name != "compare")


def command_configs(path: Path) -> list[str]:
    """The --config files its header's 'Run:' line names (an overlay names quickstart.yaml first)."""
    for line in path.read_text().splitlines():
        if line.startswith("# Run"):
            words = line.split()
            return [words[i + 1] for i, w in enumerate(words) if w == "--config"]
    raise AssertionError(f"{path} has no '# Run:' header line showing its command")


def test_there_is_a_config_per_pattern():
    names = {p.stem for p in CONFIGS}
    assert {"quickstart", "pretrain_mlm"} <= names
    assert {"full", "sliding_window", "dilated_sliding_window", "strided", "fixed_factorized", "longformer",
            "bigbird", "neighborhood", "performer", "routing"} <= names


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_config_parses_and_instantiates(config, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    files = command_configs(REPO / config)
    assert str(config) in files
    args = [a for f in files for a in ("--config", f)]  # GPU configs are instantiated on the CPU here
    overrides = ["--trainer.logger", "false", "--trainer.accelerator", "cpu"]
    if "strategy: fsdp" in (REPO / config).read_text():  # Lightning's FSDP needs GPUs
        overrides += ["--trainer.strategy", "auto", "--trainer.devices", "1"]
    overrides += ["--trainer.default_root_dir", str(tmp_path)]
    cli = GenoattnCLI(GenomeLitModule, GenomeDataModule, run=False, args=[*args, *overrides])
    assert isinstance(cli.model, GenomeLitModule) and isinstance(cli.datamodule, GenomeDataModule)
    assert cli.model.net.num_parameters() > 0
