"""End-to-end training through the CLI on a tiny genome: metrics, checkpoints, errors, NaN guard."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader

from genoattn.attention.patterns import SlidingWindow
from genoattn.lit.checkpoint import load_for_inference
from genoattn.lit.module import GenomeLitModule, NonFiniteLossError
from genoattn.models import GenomeTransformer
from genoattn.train import run

REPO = Path(__file__).resolve().parents[2]


def cli(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "genoattn.train", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def test_train_then_test_writes_metrics_and_a_predictable_checkpoint(tiny_config, capsys):
    config, path = tiny_config()
    metrics = run(["--config", str(path)])
    for key in ("test/auroc", "test/auprc", "test/acc", "test/mcc", "test/f1", "test/loss"):
        assert key in metrics and metrics[key] == metrics[key]  # present and not NaN
    out = capsys.readouterr().out
    assert "test/auroc" in out  # the printed table
    ckpt_dir = next(Path(config["trainer"]["default_root_dir"]).rglob("checkpoints"))
    summary = json.loads((ckpt_dir / "test_metrics.json").read_text())
    assert summary["test"]["test/auroc"] == pytest.approx(metrics["test/auroc"])
    assert summary["throughput"]["train_tokens_per_s"] > 0
    last = ckpt_dir / "last.ckpt"
    checkpoint = torch.load(last, map_location="cpu", weights_only=False)
    assert checkpoint["global_step"] == 6
    net, record = load_for_inference(last)
    assert record["task"] == "token_classification" and record["data"]["window"] == 256
    ids = torch.randint(4, 8, (2, 256))
    fresh = GenomeTransformer(**{**config["model"]["net"]["init_args"], "attention": SlidingWindow(8)})
    expected = GenomeLitModule.load_from_checkpoint(last, net=fresh).net.eval()(ids)  # Lightning's own loader
    torch.testing.assert_close(net(ids), expected)


def test_config_error_names_the_key(tiny_config):
    _, path = tiny_config()
    result = cli(["--config", str(path), "--model.net.init_args.d_model", "wide"])
    assert result.returncode != 0
    assert "d_model" in result.stderr


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (["--data.window", "100000"], "window"),  # longer than every contig
        (["--model.net.init_args.backend", "xformers"], "xformers"),  # no xformers kernels on this machine
        (["--trainer.accelerator", "gpu"], "gpu"),  # no GPU here
    ],
)
def test_impossible_requests_fail_at_start_with_one_line(tiny_config, override, expected):
    if expected == "gpu" and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    _, path = tiny_config()
    result = cli(["--config", str(path), *override])
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("genoattn.train: error:")]
    assert len(errors) == 1 and expected in errors[0].lower()
    assert "Traceback" not in result.stderr


class NaNNet(nn.Module):
    num_classes = 2

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1))

    def forward(self, input_ids):
        return torch.full((*input_ids.shape, 2), float("nan")) * self.weight


def test_non_finite_loss_stops_with_the_step_and_writes_no_checkpoint(tmp_path):
    batches = [{"input_ids": torch.zeros(2, 8, dtype=torch.long), "labels": torch.zeros(2, 8, dtype=torch.long)}]
    trainer = pl.Trainer(
        max_steps=3, accelerator="cpu", default_root_dir=tmp_path, logger=False, enable_progress_bar=False,
        enable_model_summary=False,
    )
    with pytest.raises(NonFiniteLossError, match="global step 0"):
        trainer.fit(GenomeLitModule(NaNNet()), train_dataloaders=DataLoader(batches, batch_size=None))
    assert not list(tmp_path.rglob("*.ckpt"))


def test_compiled_training_matches_eager_and_saves_plain_keys(tiny_config):
    """``--model.compile true`` trains the network under torch.compile (aot_eager: no C++ compiler on CI): the
    same losses as eager, and a checkpoint with the eager keys that loads without compiling."""
    config, path = tiny_config()
    eager = run(["--config", str(path)])
    compiled = run(["--config", str(path), "--model.compile", "true", "--model.compile_backend", "aot_eager"])
    assert compiled["test/loss"] == pytest.approx(eager["test/loss"], rel=1e-4)
    last = max(Path(config["trainer"]["default_root_dir"]).rglob("last.ckpt"), key=lambda p: p.stat().st_mtime)
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert not [key for key in state["state_dict"] if "_orig_mod" in key]
    assert "compile" not in state["hyper_parameters"]
    net, _ = load_for_inference(last)
    assert net(torch.randint(4, 8, (1, 256))).shape == (1, 256, 2)


def test_compile_wraps_the_network_and_refuses_context_parallel_in_one_line():
    from genoattn.errors import ConfigError

    module = GenomeLitModule(GenomeTransformer(attention=SlidingWindow(4)), compile=True, compile_backend="aot_eager")
    assert module.net._compiled_call_impl is not None  # nn.Module.compile: the module itself runs compiled
    assert GenomeLitModule(GenomeTransformer(attention=SlidingWindow(4))).net._compiled_call_impl is None
    with pytest.raises(ConfigError, match="^model.compile: a context-parallel"):
        GenomeLitModule(GenomeTransformer(context_parallel=2, attention=SlidingWindow(4)), compile=True)


def test_site_labels_train_the_auxiliary_site_head_beside_the_window_label():
    from genoattn.data.motif_datamodule import MotifPairDataModule

    data = MotifPairDataModule(window=512, band=(100, 200), level="sequence", site_labels=True,
                               train_windows_per_epoch=8, val_windows=0, test_windows=0, batch_size=4)
    net = GenomeTransformer(task="sequence_classification", num_classes=2, site_classes=data.site_label_classes,
                            pooling="max", d_model=16, num_layers=1, num_heads=2, patch_size=4,
                            attention=SlidingWindow(4))
    before = net.site_head.linear.weight.detach().clone()
    trainer = pl.Trainer(accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(GenomeLitModule(net, task="sequence_classification", warmup_steps=1), datamodule=data)
    assert float(trainer.callback_metrics["train/site_loss"]) > 0
    assert not torch.equal(net.site_head.linear.weight, before)  # the site loss reached its head
