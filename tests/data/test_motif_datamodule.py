"""MotifPairDataModule: splits, batches, config errors, and training with GenomeLitModule under Lightning."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from genoattn.data import vocab
from genoattn.data.motif_datamodule import MotifPairDataModule
from genoattn.data.motif_pairs import KINDS, POSITIVE
from genoattn.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
ECOLI = ROOT / "data" / "ecoli_prokka" / "genome.fa.gz"
JASPAR = ROOT / "data" / "motifs" / "jaspar2024_pairs.jaspar"


def make(**overrides) -> MotifPairDataModule:
    config = {"fasta": str(ECOLI), "motifs": str(JASPAR), "window": 512, "band": [40, 160], "batch_size": 4,
              "train_windows_per_epoch": 24, "val_windows": 12, "test_windows": 24, "seed": 0}
    return MotifPairDataModule(**{**config, **overrides})  # a plain dict, as the comparison pipeline passes


def test_properties_and_splits_follow_the_genome_holdout_rule():
    dm = make()
    assert (dm.task, dm.num_classes, dm.vocab_size, dm.tokens_per_window, dm.window) == (
        "sequence_classification", 2, vocab.VOCAB_SIZE, 512, 512)
    assert make(level="token").task == "token_classification"
    dm.setup()
    assert dm.split_bases["test"] == 1_175_912  # the E. coli baselines' holdout_every=5 test contigs
    assert sum(dm.split_bases.values()) == 4_930_819
    text = dm.describe()
    assert "ZSCAN16" in text and "ZNF558" in text and "band [40, 160)" in text


@pytest.mark.parametrize("level", ["sequence", "token"])
def test_batches_have_the_keys_dtypes_and_shapes_of_the_training_code(level):
    dm = make(level=level)
    batch = next(iter(dm.train_dataloader()))
    assert batch["input_ids"].dtype == torch.int64 and batch["input_ids"].shape == (4, 512)
    assert batch["labels"].dtype == torch.int64
    assert batch["labels"].shape == ((4,) if level == "sequence" else (4, 512))
    for key in ("kind", "distance"):
        assert batch[key].dtype == torch.int64 and batch[key].shape == (4,)
    for key in ("site_pos", "site_motif", "site_strand"):
        assert batch[key].shape == (4, 2)
    assert ((batch["input_ids"] >= vocab.A) & (batch["input_ids"] <= vocab.T)).all()
    labels = torch.cat([b["labels"].reshape(len(b["kind"]), -1).amax(dim=1) for b in dm.test_dataloader()])
    kinds = torch.cat([b["kind"] for b in dm.test_dataloader()])
    assert len(kinds) == 24 and (labels == (kinds == POSITIVE).long()).all()
    assert np.bincount(kinds.numpy(), minlength=len(KINDS)).tolist() == [12, 2, 2, 4, 4]


def test_eval_sets_are_fixed_and_training_windows_fresh_per_epoch():
    dm = make()
    first = [b["input_ids"] for b in dm.test_dataloader()]
    again = [b["input_ids"] for b in make().test_dataloader()]
    assert all((a == b).all() for a, b in zip(first, again))
    loader = dm.train_dataloader()
    epoch0 = next(iter(loader))["input_ids"]
    epoch1 = next(iter(loader))["input_ids"]  # without set_epoch, each pass takes the next epoch
    assert not (epoch0 == epoch1).all()
    loader.sampler.set_epoch(0)
    assert (next(iter(loader))["input_ids"] == epoch0).all()
    workers = make(num_workers=1).train_dataloader()
    assert (next(iter(workers))["input_ids"] == epoch0).all()  # same windows in a worker process


def test_bad_configs_are_one_line_errors():
    with pytest.raises(ConfigError, match="band: hi=800 does not fit"):
        make(band=[200, 800])
    with pytest.raises(ConfigError, match="motif 'NOPE' not found"):
        make(motif_a="NOPE")
    with pytest.raises(ConfigError, match="motif_b: must differ"):
        make(motif_b="MA2100.1")
    with pytest.raises(ConfigError, match="level"):
        make(level="pairs")
    with pytest.raises(ConfigError, match="background"):
        make(background="random")


def test_a_split_shorter_than_the_window_warns_and_wraps():
    dm = make(window=1 << 20, band=[102400, 409600], train_windows_per_epoch=1, val_windows=1, test_windows=1,
              batch_size=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dm.setup()
    assert any("val split holds" in str(w.message) for w in caught)
    batch = next(iter(dm.val_dataloader()))
    assert batch["input_ids"].shape == (1, 1 << 20)


@pytest.mark.parametrize("level", ["sequence", "token"])
def test_trains_and_tests_with_genome_lit_module(level, tmp_path):
    from genoattn.attention.patterns import SlidingWindow
    from genoattn.lit.module import GenomeLitModule
    from genoattn.models import GenomeTransformer

    dm = make(level=level, background="shuffle")
    net = GenomeTransformer(vocab_size=dm.vocab_size, num_classes=dm.num_classes, task=dm.task, d_model=16,
                            num_layers=1, num_heads=2, mlp_ratio=2.0, dropout=0.0, patch_size=4,
                            attention=SlidingWindow(window=8), backend="reference")
    module = GenomeLitModule(net, task=dm.task, warmup_steps=1)
    trainer = pl.Trainer(max_steps=3, max_epochs=-1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=1, val_check_interval=3, default_root_dir=tmp_path)
    trainer.fit(module, datamodule=dm)
    assert trainer.global_step == 3
    results = trainer.test(module, datamodule=dm, verbose=False)[0]
    assert np.isfinite(results["test/loss"]) and 0.0 <= results["test/auroc"] <= 1.0
