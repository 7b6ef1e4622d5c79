"""last.ckpt follows training (every validation, every N steps), not only the improvements of the metric."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader

from genoattn.lit.callbacks import ResumableCheckpoint


class Linear(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self.layer(batch).pow(2).mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


class LastStepSpy(pl.Callback):
    """The step recorded in last.ckpt, seen at the start of every training batch."""

    def __init__(self, path) -> None:
        self.path, self.seen = path, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.path.exists():
            self.seen.append((trainer.global_step, torch.load(self.path, weights_only=True)["global_step"]))


def train(tmp_path, checkpoint: ModelCheckpoint, **trainer_args) -> LastStepSpy:
    spy = LastStepSpy(tmp_path / "last.ckpt")
    data = DataLoader(torch.randn(64, 4), batch_size=2)
    trainer = pl.Trainer(max_steps=10, callbacks=[checkpoint, spy], logger=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu", **trainer_args)
    trainer.fit(Linear(), train_dataloaders=data, val_dataloaders=data if trainer_args else None)
    return spy


def test_last_is_refreshed_at_every_validation_although_the_metric_stops_improving(tmp_path):
    """monitor "step" in mode "min": only the first validation improves it; Lightning alone then keeps last.ckpt
    at that step, which --ckpt_path last.ckpt would resume from."""
    kwargs = dict(dirpath=tmp_path, monitor="step", mode="min", save_last=True, save_top_k=1)
    val = dict(val_check_interval=3, limit_val_batches=1, num_sanity_val_steps=0)
    plain = train(tmp_path / "plain", ModelCheckpoint(**{**kwargs, "dirpath": tmp_path / "plain"}), **val)
    assert dict(plain.seen)[9] == 3  # the lost steps of the issue
    ours = train(tmp_path, ResumableCheckpoint(**kwargs, last_every_n_train_steps=0), **val)
    assert dict(ours.seen)[4] == 3 and dict(ours.seen)[7] == 6 and dict(ours.seen)[9] == 9
    assert sorted(p.name for p in tmp_path.glob("*.ckpt")) == ["epoch=0-step=3.ckpt", "last.ckpt"]  # best kept


def test_last_every_n_train_steps_without_validation(tmp_path):
    checkpoint = ResumableCheckpoint(dirpath=tmp_path, monitor=None, save_last=True, save_top_k=0,
                                     last_every_n_train_steps=2)
    spy = train(tmp_path, checkpoint, limit_val_batches=0)
    assert [last for step, last in spy.seen if step % 2 == 0] == [2, 4, 6, 8]
    assert checkpoint.state_key == ModelCheckpoint(monitor=None).state_key  # checkpoints of either class resume
