"""Running the network on batches of token ids: device, precision, RC averaging, scores out.

Scores are what the writers need, as float32: token classification -> probabilities [B, L_nt, C'] with
C' = 1 (the positive class) for binary models, else every class; sequence classification -> probabilities
[B, C]; regression -> values [B, C]. On CUDA the result is copied to pinned host memory without waiting
(an event marks when it is ready), so the host can prepare the next batch while the GPU works.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from genoattn.data.tokenizers import build_tokenizer
from genoattn.errors import ConfigError
from genoattn.inference.model import ModelInfo
from genoattn.models.rc import align_reverse_output, rc_average

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "32", "bf16", "16")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: the current CUDA device if there is one, else the CPU; otherwise a torch device name."""
    if name == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r} ({exc})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} asked for, but this torch has no usable CUDA device")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype of a precision setting (None: full float32); ``auto`` is bf16 on CUDA, float32 on CPU."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision: expected one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[precision]


def score_channels(info: ModelInfo) -> int:
    """Channels of the scores the runner returns (1 for binary token classification)."""
    if info.task == "token_classification" and info.num_classes == 2:
        return 1
    return info.num_classes


@dataclass
class PendingScores:
    """Scores on their way to the host; ``get()`` waits for them (numpy float32)."""

    host: Tensor
    event: torch.cuda.Event | None = None

    def get(self) -> np.ndarray:
        if self.event is not None:
            self.event.synchronize()
        return self.host.numpy()


class ModelRunner:
    """Calls ``net`` on host token batches [B, T] and returns scores (see the module doc).

    Args:
        net: the network (moved to ``device``, eval mode).
        info: its ModelInfo.
        device: where it runs.
        precision: ``auto``, ``32``, ``bf16`` or ``16`` (autocast).
        rc: average each window with its reverse complement (genoattn.models.rc.rc_average).
        compile: torch.compile the blocks (experimental; GPU).
    """

    def __init__(self, net: nn.Module, info: ModelInfo, device: torch.device, precision: str = "auto",
                 rc: bool = False, compile: bool = False) -> None:
        self.net = net.to(device).eval()
        self.info, self.device, self.rc = info, device, rc
        self.amp_dtype = autocast_dtype(precision, device)
        self.tokenizer = build_tokenizer(info.tokenizer, info.k)
        self.permutation = info.rc_permutation
        if compile:
            self._compile()

    def _compile(self) -> None:
        blocks = getattr(getattr(self.net, "encoder", None), "blocks", None)
        if blocks is None:
            self.net.compile(dynamic=False)
            return
        for block in blocks:
            block.compile(dynamic=False)
        for name in ("upsample", "head"):
            module = getattr(self.net, name, None)
            if module is not None:
                module.compile(dynamic=False)

    @torch.no_grad()
    def logits(self, ids: Tensor) -> Tensor:
        """Network output for token ids [B, T] on the device (RC-averaged if configured)."""
        task = self.info.task
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            if not self.rc:
                return self.net(ids)
            if self.info.tokenizer == "nucleotide":
                return rc_average(self.net, ids, task=task, class_permutation=self.permutation)
            reverse = self.tokenizer.reverse_complement(ids)  # k-mer ids: reverse the k-mers and the order
            both = self.net(torch.cat([ids, reverse], dim=0))  # [2B, ...]
            forward, backward = both.chunk(2, dim=0)
            aligned = align_reverse_output(backward, task == "token_classification", self.permutation)
            return (forward + aligned) / 2

    @torch.no_grad()
    def scores(self, ids: Tensor) -> Tensor:
        """float32 scores on the device for token ids [B, T] (already on the device)."""
        out = self.logits(ids.long()).float()
        task = self.info.task
        if task == "regression":
            return out.reshape(out.shape[0], -1)  # [B, C]
        probs = out.softmax(dim=-1)
        if task == "sequence_classification":
            return probs  # [B, C]
        if probs.shape[-1] == 2:
            probs = probs[..., 1:]  # [B, T, 1]: the positive class
        if self.info.k > 1:
            probs = probs.repeat_interleave(self.info.k, dim=1)  # [B, T * k, C']: per nucleotide
        return probs

    def __call__(self, tokens: Tensor) -> PendingScores:
        """Start the work for host tokens [B, T]; the result is read with ``.get()``."""
        if self.device.type != "cuda":
            return PendingScores(self.scores(tokens.to(self.device)).cpu())
        ids = tokens.to(self.device, non_blocking=True)
        scores = self.scores(ids)
        host = torch.empty(scores.shape, dtype=scores.dtype, pin_memory=True)
        host.copy_(scores, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        return PendingScores(host, event)
