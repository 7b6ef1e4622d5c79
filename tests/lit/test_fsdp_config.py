"""configs/fsdp_large.yaml: the FSDP config names fsdp and its network has >= 100M parameters.

Lightning's FSDP refuses accelerator cpu, so no FSDP step runs here; the network is built on the meta device
(tests/test_configs.py instantiates the whole config on the CPU with strategy auto).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml

from genoattn.attention import patterns
from genoattn.models import GenomeTransformer

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "fsdp_large.yaml"


def test_fsdp_config_builds_a_network_of_at_least_100m_parameters():
    config = yaml.safe_load(CONFIG.read_text())
    assert config["trainer"]["strategy"] == "fsdp"
    args = dict(config["model"]["net"]["init_args"])
    attention = args.pop("attention")
    pattern = getattr(patterns, attention["class_path"].rsplit(".", 1)[1])(**attention["init_args"])
    with torch.device("meta"):
        net = GenomeTransformer(attention=pattern, **args)
    assert net.num_parameters() >= 100_000_000


def test_lightning_fsdp_needs_a_gpu():
    with pytest.raises(ValueError, match="requires a GPU"):
        pl.Trainer(accelerator="cpu", strategy="fsdp", devices=1, logger=False)
