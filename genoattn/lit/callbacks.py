"""Training callbacks: throughput (tokens/s) and peak memory (logged and written as JSON), a checkpoint callback
whose last.ckpt follows training, a progress bar that counts to max_steps, and a time limit for the test."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint, TQDMProgressBar
from pytorch_lightning.trainer.states import TrainerFn

from genoattn.errors import ConfigError


def peak_memory_bytes(device: torch.device) -> int:
    """Peak allocated memory on a CUDA device, else the process's peak resident set size."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)  # Linux reports KiB


class ThroughputMonitor(pl.Callback):
    """Logs training tokens/s (shown on the progress bar) and peak memory; writes a summary JSON at the end.

    Args:
        log_every_n_steps: how often to log the windowed throughput.
        filename: summary written into the trainer's log dir when training ends.
    """

    def __init__(self, log_every_n_steps: int = 10, filename: str = "throughput.json") -> None:
        self.log_every_n_steps = log_every_n_steps
        self.filename = filename
        self._window_tokens = 0
        self._window_start = 0.0
        self._total_tokens = 0
        self._total_time = 0.0
        self._last_rate = 0.0
        self.result: dict[str, float | str] | None = None  # set when training ends

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._window_start = time.perf_counter()
        self._window_tokens = 0

    def _flush(self, pl_module: pl.LightningModule) -> float:
        """Close the current measuring window; return its tokens/s (0 when empty)."""
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        now = time.perf_counter()
        elapsed, tokens = now - self._window_start, self._window_tokens
        self._window_start, self._window_tokens = now, 0
        if tokens == 0 or elapsed <= 0:
            return 0.0
        self._total_tokens += tokens
        self._total_time += elapsed
        self._last_rate = tokens / elapsed
        return self._last_rate

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: D102
        self._window_tokens += int(batch["input_ids"].numel()) * trainer.world_size
        if (batch_idx + 1) % self.log_every_n_steps:
            return
        rate = self._flush(pl_module)
        if rate:
            pl_module.log("tok_per_s", rate, prog_bar=True, on_step=True, on_epoch=False)
            pl_module.log("peak_mem_gib", peak_memory_bytes(pl_module.device) / 2**30, on_step=True, on_epoch=False)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.training:  # validation inside fit: keep its time out of the training rate
            self._flush(pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._window_start = time.perf_counter()

    def summary(self, device: torch.device) -> dict[str, float | str]:
        rate = self._total_tokens / self._total_time if self._total_time else self._last_rate
        return {
            "train_tokens_per_s": rate,
            "train_tokens_measured": self._total_tokens,
            "peak_memory_gib": peak_memory_bytes(device) / 2**30,
            "device": str(device),
        }

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._flush(pl_module)
        self.result = self.summary(pl_module.device)  # read on the training device, before teardown
        log_dir = trainer.log_dir  # a collective under DDP: every rank must ask
        if not trainer.is_global_zero or log_dir is None:
            return
        path = Path(log_dir) / self.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.result, indent=2) + "\n")


class ResumableCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose ``last.ckpt`` follows training, so that ``--ckpt_path .../last.ckpt`` loses little.

    Lightning refreshes ``last.ckpt`` only when it also saves a top-k checkpoint, i.e. when the monitored metric
    improved; here it is refreshed at every validation and every ``last_every_n_train_steps`` optimizer steps too
    (0: only at validations). Its state key is ModelCheckpoint's, so checkpoints of either class resume.

    Args:
        last_every_n_train_steps: refresh ``last.ckpt`` every this many steps (0: only at validations).
        *args, **kwargs: those of :class:`pytorch_lightning.callbacks.ModelCheckpoint`.
    """

    def __init__(self, *args: Any, last_every_n_train_steps: int = 100, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if last_every_n_train_steps < 0:
            raise ConfigError(f"checkpoint.last_every_n_train_steps: expected an integer >= 0, got "
                              f"{last_every_n_train_steps}")
        self.last_every_n_train_steps = last_every_n_train_steps
        self._last_refreshed = -1

    @property
    def state_key(self) -> str:
        key = super().state_key
        return ModelCheckpoint.__qualname__ + key[len(type(self).__qualname__):]

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        n = self.last_every_n_train_steps
        if n and trainer.global_step % n == 0:
            self._refresh_last(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        self._refresh_last(trainer)

    def _refresh_last(self, trainer: pl.Trainer) -> None:
        step = trainer.global_step
        if (not self.save_last or not step or trainer.sanity_checking
                or trainer.fast_dev_run  # type: ignore[attr-defined]  # Lightning sets it outside the Trainer class
                or trainer.state.fn != TrainerFn.FITTING or self._last_refreshed == step):
            return
        self._last_refreshed = step
        if self._last_global_step_saved == step and self.last_model_path:
            return  # Lightning wrote it at this step already
        self.last_model_path = self.format_checkpoint_name(self._monitor_candidates(trainer), self.CHECKPOINT_NAME_LAST)
        trainer.save_checkpoint(self.last_model_path, self.save_weights_only)


class StepProgressBar(TQDMProgressBar):
    """The training bar counts the batches left before ``max_steps`` (not the whole epoch), so its ETA is that of
    the run."""

    @property
    def total_train_batches(self) -> int | float:
        total = super().total_train_batches
        trainer = self.trainer
        if trainer.max_steps is None or trainer.max_steps < 0:
            return total
        done = trainer.fit_loop.epoch_loop.batch_progress.current.completed  # this epoch, before a resume
        left = (trainer.max_steps - trainer.global_step) * trainer.accumulate_grad_batches
        return min(total, done + left)


class TestTimeLimit(pl.Callback):
    """Stops the test loop once ``seconds`` have passed (after at least one batch); the metrics then cover the
    batches scored so far, and ``stopped_after`` says how many (None: the test ran to its end)."""

    __test__ = False  # not a pytest test class

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = 0.0
        self.stopped_after: int | None = None

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.deadline, self.stopped_after = time.monotonic() + self.seconds, None

    def on_test_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int,
                            dataloader_idx: int = 0) -> None:
        late = batch_idx > 0 and time.monotonic() >= self.deadline
        if trainer.strategy.broadcast(late):  # every rank stops at the same batch
            self.stopped_after = batch_idx
            raise StopIteration  # ends Lightning's evaluation loop cleanly (it catches StopIteration from a step)
