"""Training entry point: ``python -m genoattn.train --config configs/quickstart.yaml``.

LightningCLI over GenomeLitModule and GenomeDataModule: every argument of the model, the data and the
trainer is settable in YAML or on the command line (``--model.net.init_args.d_model 128``);
``--print_config`` prints the full resolved config. After training, the best checkpoint is evaluated
on the test split; the metrics are written as JSON next to the checkpoints and printed as a table.

Beyond Lightning's defaults: misspelt config keys are all named at once with their file (genoattn.lit.config_keys);
bad values give one ``genoattn.train: error:`` line, not the usage; checkpoints are written atomically and read
without running code from them (genoattn.lit.checkpoint_io); ``--ckpt_path`` is checked before training;
``last.ckpt`` is refreshed at every validation and every ``checkpoint.last_every_n_train_steps`` steps; CSV and
TensorBoard logs share one version folder, removed again when the run fails before its first step; the test
phase stops when ``trainer.max_time`` is used up (or after ``test_max_time``); the progress bar counts to
``max_steps``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from pathlib import Path

import pytorch_lightning as pl
from jsonargparse import ArgumentError, set_parsing_settings
from pytorch_lightning.callbacks import Callback, ModelCheckpoint, ProgressBar, Timer
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.plugins.io import CheckpointIO
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from genoattn.data.datamodule import GenomeDataModule
from genoattn.errors import ConfigError, GenoattnError
from genoattn.lit.callbacks import ResumableCheckpoint, StepProgressBar, TestTimeLimit, ThroughputMonitor
from genoattn.lit.checkpoint import check_resumable
from genoattn.lit.checkpoint_io import AtomicCheckpointIO
from genoattn.lit.config_keys import check_config_files, integer_limits
from genoattn.lit.module import GenomeLitModule, NonFiniteLossError
from genoattn.lit.run_folders import RunFolders
from genoattn.lit.strategy import context_parallel_strategy, requested_processes
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
# Lightning messages on every run that a user cannot act on (an advert, an internal step, a torch deprecation
# inside Lightning).
_NOISE = ("💡 Tip:", "Loading `train_dataloader` to estimate number of stepping batches")


class GenoattnCLI(LightningCLI):
    """LightningCLI with genoattn's links, checks and extra options (see the module doc)."""

    def __init__(self, *args, run_folders: RunFolders | None = None, **kwargs) -> None:
        self.run_folders = run_folders or RunFolders()
        self.integer_limits: dict[str, int] = {}
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--ckpt_path", type=str | None, default=None, help="Resume training from here.")
        parser.add_argument("--run_test", type=bool, default=True, help="Evaluate on the test split after fit.")
        parser.add_argument("--test_max_time", type=str | None, default=None,
                            help="Stop the test after this long (DD:HH:MM:SS); default: what trainer.max_time "
                            "leaves after training (unbounded without max_time).")
        parser.add_lightning_class_args(ResumableCheckpoint, "checkpoint")
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

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        """Name every unknown key of the config files first; then put back limits written as integers."""
        argv = list(sys.argv[1:] if args is None else args) if not hasattr(args, "keys") else []
        check_config_files(set(parser.get_defaults().keys()), argv)
        super().parse_arguments(parser, args)
        self.integer_limits = integer_limits(argv)  # given to the Trainer as ints (see instantiate_trainer)

    def before_instantiate_classes(self) -> None:
        """Loggers left at the default save_dir ("runs") write under trainer.default_root_dir instead, and the
        CSV and TensorBoard loggers share one version folder."""
        trainer = self.config["trainer"] if "trainer" in self.config else None
        if trainer is None:
            return
        loggers = trainer.get("logger")
        if trainer.get("default_root_dir"):
            for logger in loggers if isinstance(loggers, list) else [loggers]:
                init_args = getattr(logger, "init_args", None)
                if init_args is not None and init_args.get("save_dir") == TRAINER_DEFAULTS["default_root_dir"]:
                    init_args["save_dir"] = trainer["default_root_dir"]
        self.run_folders.share_version(loggers)

    def instantiate_trainer(self, **kwargs) -> pl.Trainer:
        """Atomic, safe checkpoint files and a progress bar counting to max_steps, unless the config names its own
        checkpoint IO plugin or progress bar; batch limits written as integers stay integers. A context-parallel
        network trains with ContextParallelDDP: each group of ``context_parallel`` ranks shares its batches, the
        groups split the data (genoattn.lit.strategy)."""
        config = self.config_init["trainer"]
        context_parallel = getattr(self.model.net, "context_parallel", 1)
        if context_parallel > 1:
            kwargs["strategy"] = context_parallel_strategy(config.get("strategy"), context_parallel)
            if requested_processes(config.get("devices"), config.get("num_nodes")) == context_parallel:
                kwargs["use_distributed_sampler"] = False  # one group: every rank reads the batches as one process
        for key, value in self.integer_limits.items():
            kwargs.setdefault(key.split(".", 1)[1], value)
        plugins = config.get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, list) else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            kwargs.setdefault("plugins", [*plugins, AtomicCheckpointIO()])
        callbacks = list(config.get("callbacks") or [])
        if config.get("enable_progress_bar") is not False and not any(isinstance(c, ProgressBar) for c in callbacks):
            kwargs.setdefault("callbacks", [*callbacks, StepProgressBar()])
        return super().instantiate_trainer(**kwargs)


def trainer_callbacks(trainer: pl.Trainer) -> list[Callback]:
    """The trainer's callback list (Lightning's callback connector sets it; the Trainer class does not declare it)."""
    return trainer.callbacks  # type: ignore[attr-defined]  # set outside the Trainer class, undeclared


def checkpoint_callback(trainer: pl.Trainer) -> ModelCheckpoint:
    for callback in trainer_callbacks(trainer):
        if isinstance(callback, ModelCheckpoint):
            return callback
    raise GenoattnError("the trainer has no ModelCheckpoint callback")


def format_table(metrics: dict[str, float]) -> str:
    width = max(len(k) for k in metrics) if metrics else 10
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  ------"]
    lines += [f"{k:<{width}}  {v:.4f}" for k, v in sorted(metrics.items())]
    return "\n".join(lines)


def duration_seconds(text: str, key: str) -> float:
    """Seconds of a ``DD:HH:MM:SS`` duration (trainer.max_time's format)."""
    parts = text.split(":")
    try:
        days, hours, minutes, seconds = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"{key}: expected a duration DD:HH:MM:SS, got {text!r}") from None
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def time_limit_for_test(trainer: pl.Trainer, test_max_time: str | None) -> TestTimeLimit | None:
    """The test's time limit: ``test_max_time``, else what trainer.max_time left (None: unbounded)."""
    if test_max_time is not None:
        seconds = duration_seconds(test_max_time, "test_max_time")
    else:
        timer = next((c for c in trainer_callbacks(trainer) if isinstance(c, Timer)), None)
        remaining = timer.time_remaining() if timer is not None else None
        if remaining is None:
            return None
        seconds = max(0.0, remaining)
    limit = TestTimeLimit(seconds)
    trainer_callbacks(trainer).append(limit)
    return limit


def run(args: list[str] | None = None) -> dict[str, float]:
    """Parse the config, train, test the best checkpoint; return the test metrics."""
    folders = RunFolders()
    try:
        return _run(args, folders)
    except BaseException as exc:
        if not (isinstance(exc, KeyboardInterrupt) or folders.trained) and int(os.environ.get("LOCAL_RANK", "0")) == 0:
            folders.remove_if_unused()
        raise


def _run(args: list[str] | None, folders: RunFolders) -> dict[str, float]:
    cli = GenoattnCLI(
        GenomeLitModule,
        GenomeDataModule,
        run=False,
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"exit_on_error": False},
        args=args,
        run_folders=folders,
    )
    config = cli.config
    trainer, model, data = cli.trainer, cli.model, cli.datamodule
    if config.ckpt_path:
        check_resumable(config.ckpt_path, model)
    folders.watch(trainer)
    trainer.fit(model, datamodule=data, ckpt_path=config.ckpt_path, weights_only=True)
    ckpt = checkpoint_callback(trainer)
    if ckpt.save_last and ckpt.dirpath and not trainer.interrupted:
        # Lightning refreshes last.ckpt only at validation/epoch ends; make it the final state.
        trainer.save_checkpoint(Path(ckpt.dirpath) / f"{ckpt.CHECKPOINT_NAME_LAST}{ckpt.FILE_EXTENSION}",
                                weights_only=ckpt.save_weights_only)
    if not config.run_test:
        return {}
    limit = time_limit_for_test(trainer, config.test_max_time)
    best = trainer.strategy.broadcast(ckpt.best_model_path or ckpt.last_model_path or None)  # same file on all ranks
    results = trainer.test(model, datamodule=data, ckpt_path=best, verbose=False, weights_only=True)
    metrics = {k: float(v) for k, v in (results[0] if results else {}).items()}
    if trainer.is_global_zero:
        out_dir = Path(ckpt.dirpath or trainer.default_root_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        summary: dict[str, object] = {"checkpoint": best, "test": metrics}  # written as JSON
        note = ""
        if limit is not None and limit.stopped_after is not None:
            total = sum(trainer.num_test_batches)
            summary["test_stopped"] = {"batches": limit.stopped_after, "of": total, "after_s": limit.seconds}
            note = (f"\nnote: the test stopped after {limit.stopped_after} of {total} batches ({limit.seconds:.0f} s "
                    "left by trainer.max_time or test_max_time): the metrics cover those batches only")
        for callback in trainer_callbacks(trainer):
            if isinstance(callback, ThroughputMonitor) and callback.result is not None:
                summary["throughput"] = callback.result
        (out_dir / "test_metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(f"\nTest metrics ({best}):\n{format_table(metrics)}\nwritten to {out_dir / 'test_metrics.json'}{note}")
    return metrics


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(_NOISE)


def quiet_lightning() -> None:
    """Silence the messages in _NOISE and the torch deprecation Lightning triggers on every run."""
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_DropNoise())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated")


def main() -> None:
    # Lightning 2.6's CLI calls jsonargparse APIs deprecated in jsonargparse 4.49: warnings users cannot act on
    # (JSONARGPARSE_DEPRECATION_WARNINGS set by the user wins).
    os.environ.setdefault("JSONARGPARSE_DEPRECATION_WARNINGS", "off")
    quiet_lightning()
    try:
        run()
    except (GenoattnError, MisconfigurationException, NonFiniteLossError) as exc:
        print(f"genoattn.train: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ArgumentError as exc:
        message = " ".join(str(exc).split())
        print(f"genoattn.train: error: {message} (python -m genoattn.train --help lists the options)", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
