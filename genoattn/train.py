"""Training entry point: ``python -m genoattn.train --config configs/quickstart.yaml``.

LightningCLI over GenomeLitModule and GenomeDataModule: every argument of the model, the data and the
trainer is settable in YAML or on the command line (``--model.net.init_args.d_model 128``);
``--print_config`` prints the full resolved config. After training, the best checkpoint is evaluated
on the test split; the metrics are written as JSON next to the checkpoints and printed as a table.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytorch_lightning as pl
from jsonargparse import set_parsing_settings
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from genoattn.data.datamodule import GenomeDataModule
from genoattn.errors import GenoattnError
from genoattn.lit.callbacks import ThroughputMonitor
from genoattn.lit.module import GenomeLitModule, NonFiniteLossError
from genoattn.models.specs import PerformerSpec, RoutingSpec

# Attention specs that are not mask patterns are plain dataclasses; let YAML switch to them by class_path
# (e.g. an overlay config replacing quickstart's SlidingWindow by a PerformerSpec).
set_parsing_settings(subclasses_enabled=[PerformerSpec, RoutingSpec])

TRAINER_DEFAULTS = {
    "default_root_dir": "runs",
    "logger": [
        {"class_path": "pytorch_lightning.loggers.CSVLogger", "init_args": {"save_dir": "runs"}},
        {"class_path": "pytorch_lightning.loggers.TensorBoardLogger", "init_args": {"save_dir": "runs"}},
    ],
    "log_every_n_steps": 10,
}


class GenoattnCLI(LightningCLI):
    """LightningCLI with genoattn's links and extra options."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--ckpt_path", type=str | None, default=None, help="Resume training from here.")
        parser.add_argument("--run_test", type=bool, default=True, help="Evaluate on the test split after fit.")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/loss",
                "checkpoint.mode": "min",
                "checkpoint.save_last": True,
                "checkpoint.save_top_k": 1,
                "checkpoint.filename": "best-{epoch}-{step}",
            }
        )
        parser.add_lightning_class_args(ThroughputMonitor, "throughput")
        parser.link_arguments("data.task", "model.task")
        parser.link_arguments("data.num_classes", "model.net.init_args.num_classes", apply_on="instantiate")
        parser.link_arguments("data.vocab_size", "model.net.init_args.vocab_size", apply_on="instantiate")
        parser.link_arguments("data.task", "model.net.init_args.task")


    def before_instantiate_classes(self) -> None:
        """Loggers left at the default save_dir ("runs") write under trainer.default_root_dir instead."""
        trainer = self.config["trainer"] if "trainer" in self.config else None
        if trainer is None or not trainer.get("default_root_dir"):
            return
        loggers = trainer.get("logger")
        for logger in loggers if isinstance(loggers, list) else [loggers]:
            init_args = getattr(logger, "init_args", None)
            if init_args is not None and init_args.get("save_dir") == TRAINER_DEFAULTS["default_root_dir"]:
                init_args["save_dir"] = trainer["default_root_dir"]


def checkpoint_callback(trainer: pl.Trainer) -> ModelCheckpoint:
    for callback in trainer.callbacks:
        if isinstance(callback, ModelCheckpoint):
            return callback
    raise GenoattnError("the trainer has no ModelCheckpoint callback")


def format_table(metrics: dict[str, float]) -> str:
    width = max(len(k) for k in metrics) if metrics else 10
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  ------"]
    lines += [f"{k:<{width}}  {v:.4f}" for k, v in sorted(metrics.items())]
    return "\n".join(lines)


def run(args: list[str] | None = None) -> dict[str, float]:
    """Parse the config, train, test the best checkpoint; return the test metrics."""
    cli = GenoattnCLI(
        GenomeLitModule,
        GenomeDataModule,
        run=False,
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        args=args,
    )
    config = cli.config
    trainer, model, data = cli.trainer, cli.model, cli.datamodule
    trainer.fit(model, datamodule=data, ckpt_path=config.ckpt_path)
    ckpt = checkpoint_callback(trainer)
    if ckpt.save_last and ckpt.dirpath and not trainer.interrupted:
        # Lightning refreshes last.ckpt only at validation/epoch ends; make it the final state.
        trainer.save_checkpoint(Path(ckpt.dirpath) / f"{ckpt.CHECKPOINT_NAME_LAST}{ckpt.FILE_EXTENSION}")
    if not config.run_test:
        return {}
    best = trainer.strategy.broadcast(ckpt.best_model_path or ckpt.last_model_path or None)  # same file on all ranks
    results = trainer.test(model, datamodule=data, ckpt_path=best, verbose=False)
    metrics = {k: float(v) for k, v in (results[0] if results else {}).items()}
    if trainer.is_global_zero:
        out_dir = Path(ckpt.dirpath or trainer.default_root_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        summary = {"checkpoint": best, "test": metrics}
        for callback in trainer.callbacks:
            if isinstance(callback, ThroughputMonitor) and callback.result is not None:
                summary["throughput"] = callback.result
        (out_dir / "test_metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(f"\nTest metrics ({best}):\n{format_table(metrics)}\nwritten to {out_dir / 'test_metrics.json'}")
    return metrics


def main() -> None:
    # Lightning 2.6's CLI calls jsonargparse APIs deprecated in jsonargparse 4.49: warnings users cannot act on
    # (JSONARGPARSE_DEPRECATION_WARNINGS set by the user wins).
    os.environ.setdefault("JSONARGPARSE_DEPRECATION_WARNINGS", "off")
    try:
        run()
    except (GenoattnError, MisconfigurationException, NonFiniteLossError) as exc:
        print(f"genoattn.train: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
