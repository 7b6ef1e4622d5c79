"""Convolutional patch stem (nucleotides -> patches) and its upsampling back to one vector per nucleotide.

With ``patch_size`` p the transformer runs on L/p tokens, which is what makes long windows affordable
on CPU; token-level heads get per-nucleotide features back through ``PatchUpsample``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from genoattn.errors import ConfigError
from genoattn.models.blocks import make_norm


class PatchStem(nn.Module):
    """Strided Conv1d over nucleotide embeddings: [B, L, d] -> [B, L / p, d] (L a multiple of p).

    Args:
        d_model: width of the embeddings and of the output tokens.
        patch_size: stride p (nucleotides per output token).
        kernel_size: conv width (>= p; default p, i.e. non-overlapping patches); wider kernels overlap
            neighbouring patches, centred on each patch.
    """

    def __init__(self, d_model: int, patch_size: int, kernel_size: int | None = None) -> None:
        super().__init__()
        kernel_size = patch_size if kernel_size is None else kernel_size
        if patch_size < 1 or kernel_size < patch_size:
            raise ConfigError(
                f"model.stem_kernel_size must be >= model.patch_size >= 1, got patch_size={patch_size}, "
                f"stem_kernel_size={kernel_size}"
            )
        self.patch_size = patch_size
        self.pad_left = (kernel_size - patch_size) // 2
        self.pad_right = kernel_size - patch_size - self.pad_left
        self.conv = nn.Conv1d(d_model, d_model, kernel_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] % self.patch_size:
            raise ConfigError(f"PatchStem: length {x.shape[1]} is not a multiple of patch_size {self.patch_size}")
        y = F.pad(x.transpose(1, 2), (self.pad_left, self.pad_right))  # [B, d, L + k - p]
        return self.conv(y).transpose(1, 2)  # [B, L / p, d]


class PatchUpsample(nn.Module):
    """Patch tokens back to nucleotides: [B, N, d] (+ skip [B, N * p, d]) -> [B, N * p, d].

    A transposed conv (kernel = stride = p) gives each position inside a patch its own vector; the
    nucleotide embeddings are added as a skip connection (base identity at full resolution), a
    same-length conv of width 2p + 1 mixes across patch borders (residual), and a norm ends it.
    """

    def __init__(self, d_model: int, patch_size: int, norm: str = "layernorm") -> None:
        super().__init__()
        self.patch_size = patch_size
        self.up = nn.ConvTranspose1d(d_model, d_model, patch_size, stride=patch_size)
        self.act = nn.GELU()
        self.refine = nn.Conv1d(d_model, d_model, 2 * patch_size + 1, padding=patch_size)
        self.norm = make_norm(norm, d_model)

    def forward(self, hidden: Tensor, skip: Tensor) -> Tensor:
        x = self.up(hidden.transpose(1, 2))  # [B, d, N * p]
        x = x + skip.transpose(1, 2)
        x = x + self.refine(self.act(x))  # [B, d, N * p]
        return self.norm(x.transpose(1, 2))  # [B, N * p, d]
