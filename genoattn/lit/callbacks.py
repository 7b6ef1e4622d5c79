"""Training callbacks: throughput (tokens/s) and peak memory, recorded to the logger and a JSON file."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch


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
        self.result: dict[str, float] | None = None  # set when training ends

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

    def summary(self, device: torch.device) -> dict[str, float]:
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
