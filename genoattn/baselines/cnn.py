"""The small dilated CNN baseline: a per-nucleotide classifier of about 160k parameters, no attention.

Trained like any genoattn network (``python -m genoattn.train --config configs/baselines/cnn.yaml``: 300 s on the
CPU over the E. coli training contigs, seeded), so its checkpoint predicts through ``genoattn.predict`` and is
scored by ``pipelines.cross_genome`` exactly as the model under test (forward + reverse complement averaged).

Layout: one-hot A/C/G/T (N and special tokens: zeros) -> Conv1d stem -> residual blocks
``x + Conv1d_dilated(GELU(LayerNorm(x)))`` with dilations 1, 2, 4, ... -> LayerNorm -> 1x1 Conv1d to the classes.
Every operation is local (the norms normalise each position over its channels), so an output depends on at
most ``receptive_field`` nucleotides on each side and tiled prediction equals one pass over the contig.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genoattn.data.vocab import VOCAB_SIZE, A, T
from genoattn.errors import ConfigError


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of [B, C, L] (each position on its own)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class DilatedBlock(nn.Module):
    """``x + conv(GELU(norm(x)))`` with a dilated, length-preserving convolution ([B, C, L] -> [B, C, L])."""

    def __init__(self, channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.norm = ChannelNorm(channels)
        self.conv = nn.Conv1d(channels, channels, kernel_size, dilation=dilation,
                              padding=dilation * (kernel_size - 1) // 2)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(F.gelu(self.norm(x)))


class DilatedCNN(nn.Module):
    """Per-nucleotide classifier over nucleotide token ids (the genoattn network contract).

    Args:
        num_classes: output classes per nucleotide.
        vocab_size: token ids the input may hold (nucleotide vocabulary; ids other than A/C/G/T are zeros).
        task: only ``token_classification``.
        channels: width of every convolution.
        stem_kernel_size: odd kernel of the first convolution.
        kernel_size: odd kernel of the dilated convolutions.
        num_blocks: residual blocks; block i has dilation 2**i.
    """

    one_hot: Tensor  # buffer (not saved)

    def __init__(self, num_classes: int = 2, vocab_size: int = VOCAB_SIZE, task: str = "token_classification",
                 channels: int = 72, stem_kernel_size: int = 9, kernel_size: int = 3, num_blocks: int = 10) -> None:
        super().__init__()
        if task != "token_classification":
            raise ConfigError(f"DilatedCNN: task must be 'token_classification', got {task!r}")
        if vocab_size != VOCAB_SIZE:
            raise ConfigError(f"DilatedCNN: needs the nucleotide tokenizer (vocab_size {VOCAB_SIZE}), got {vocab_size}")
        if stem_kernel_size % 2 == 0 or kernel_size % 2 == 0:
            raise ConfigError(f"DilatedCNN: kernel sizes must be odd, got {stem_kernel_size} and {kernel_size}")
        self.config = {"num_classes": num_classes, "vocab_size": vocab_size, "task": task, "channels": channels,
                       "stem_kernel_size": stem_kernel_size, "kernel_size": kernel_size, "num_blocks": num_blocks}
        self.task, self.num_classes = task, num_classes
        dilations = [2**i for i in range(num_blocks)]
        self.receptive_field = stem_kernel_size // 2 + sum(d * (kernel_size // 2) for d in dilations)
        one_hot = torch.zeros(vocab_size, 4)
        one_hot[A : T + 1] = torch.eye(4)
        self.register_buffer("one_hot", one_hot, persistent=False)
        self.stem = nn.Conv1d(4, channels, stem_kernel_size, padding=stem_kernel_size // 2)
        self.blocks = nn.Sequential(*(DilatedBlock(channels, kernel_size, d) for d in dilations))
        self.norm = ChannelNorm(channels)
        self.head = nn.Conv1d(channels, num_classes, 1)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, input_ids: Tensor) -> Tensor:
        """Token ids [B, L] -> logits [B, L, num_classes]."""
        x = self.one_hot[input_ids.long()].transpose(1, 2)  # [B, 4, L]
        x = self.blocks(self.stem(x))  # [B, C, L]
        return self.head(F.gelu(self.norm(x))).transpose(1, 2)  # [B, L, num_classes]
