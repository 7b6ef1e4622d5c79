"""Convolutional patch stem (nucleotides -> patches) and its upsampling back to one vector per nucleotide.

With ``patch_size`` p the transformer runs on L/p tokens, which is what makes long windows affordable
on CPU; token-level heads get per-nucleotide features back through ``PatchUpsample``.

Both are written as reshapes around ``nn.Linear`` rather than ``nn.Conv1d`` / ``nn.ConvTranspose1d``:
the same maps (a strided convolution is a linear layer over unfolded windows; a transposed convolution
with kernel = stride is a linear layer whose output is split into p positions), but several times faster
on CPU, where PyTorch's 1-D convolutions are slow at these widths.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genoattn.errors import ConfigError
from genoattn.models.blocks import make_norm


class PatchStem(nn.Module):
    """Strided convolution over nucleotide embeddings: [B, L, d] -> [B, L / p, d] (L a multiple of p).

    Args:
        d_model: width of the embeddings and of the output tokens.
        patch_size: stride p (nucleotides per output token).
        kernel_size: conv width k >= p (default p: non-overlapping patches); a wider kernel also sees
            (k - p) // 2 nucleotides before and the rest after each patch (zero-padded at the ends).
        hidden: width of a hidden GELU layer between the window and the token (0: one linear map).
    """

    def __init__(self, d_model: int, patch_size: int, kernel_size: int | None = None, hidden: int = 0) -> None:
        super().__init__()
        kernel_size = patch_size if kernel_size is None else kernel_size
        if patch_size < 1 or kernel_size < patch_size:
            raise ConfigError(
                f"model.stem_kernel_size must be >= model.patch_size >= 1, got patch_size={patch_size}, "
                f"stem_kernel_size={kernel_size}"
            )
        self.patch_size = patch_size
        self.kernel_size = kernel_size
        self.pad_left = (kernel_size - patch_size) // 2
        self.pad_right = kernel_size - patch_size - self.pad_left
        if hidden:  # a one-hidden-layer MLP over each window: detects k-mers (e.g. stop codons) directly
            self.linear: nn.Module = nn.Sequential(
                nn.Linear(kernel_size * d_model, hidden), nn.GELU(), nn.Linear(hidden, d_model)
            )
        else:
            self.linear = nn.Linear(kernel_size * d_model, d_model)

    def forward(self, x: Tensor) -> Tensor:
        batch, length, width = x.shape
        if length % self.patch_size:
            raise ConfigError(f"PatchStem: length {length} is not a multiple of patch_size {self.patch_size}")
        if self.kernel_size == self.patch_size:
            windows = x.reshape(batch, length // self.patch_size, self.patch_size * width)  # [B, N, p * d]
        else:
            x = F.pad(x, (0, 0, self.pad_left, self.pad_right))  # [B, L + k - p, d]
            windows = x.unfold(1, self.kernel_size, self.patch_size)  # [B, N, d, k]
            windows = windows.transpose(2, 3).reshape(batch, -1, self.kernel_size * width)  # [B, N, k * d]
        return self.linear(windows)  # [B, N, d]

    def forward_ids(self, input_ids: Tensor, embedding: Tensor) -> Tensor:
        """``forward(embedding[input_ids])`` without materialising the windows: [B, L] ids -> [B, N, d].

        The first linear map over a window of k embeddings is a sum over offsets of ``W_j @ e(id_j)``, so
        it is a sum of k rows of per-offset tables ``T[j, v] = W_j @ e(v)`` (computed from the current
        weights on every call, so gradients reach both): an ``embedding_bag`` of k lookups per token
        instead of a (k * d) x hidden matrix product, about k * d times fewer multiply-adds.
        Zero padding at the ends is an extra all-zero table row.
        """
        batch, length = input_ids.shape
        if length % self.patch_size:
            raise ConfigError(f"PatchStem: length {length} is not a multiple of patch_size {self.patch_size}")
        first = self.linear[0] if isinstance(self.linear, nn.Sequential) else self.linear
        vocab, width = embedding.shape
        padded = torch.cat([embedding, embedding.new_zeros(1, width)])  # [V + 1, d]; row V: zero padding
        weight = first.weight.reshape(first.out_features, self.kernel_size, width)  # [h, k, d]
        tables = torch.einsum("hkd,vd->kvh", weight, padded).reshape(-1, first.out_features)  # [k * (V+1), h]
        ids = F.pad(input_ids, (self.pad_left, self.pad_right), value=vocab)  # [B, L + k - p]
        windows = ids.unfold(1, self.kernel_size, self.patch_size)  # [B, N, k]
        offsets = torch.arange(self.kernel_size, device=ids.device) * (vocab + 1)  # [k]
        bags = (windows + offsets).reshape(-1, self.kernel_size)  # [B * N, k] rows of the tables
        hidden = F.embedding_bag(bags, tables, mode="sum") + first.bias  # [B * N, h]
        hidden = hidden.reshape(batch, -1, first.out_features)  # [B, N, h]
        if isinstance(self.linear, nn.Sequential):
            hidden = self.linear[2](self.linear[1](hidden))
        return hidden  # [B, N, d]


class PatchUpsample(nn.Module):
    """Patch tokens back to nucleotides: [B, N, d] (+ skip [B, N * p, d]) -> [B, N * p, d].

    A transposed convolution with kernel = stride = p (one linear map to p vectors per patch) gives each
    position inside a patch its own vector; the nucleotide embeddings are added as a skip connection (base
    identity at full resolution); a per-nucleotide residual MLP combines the two, and a norm ends it.
    """

    def __init__(self, d_model: int, patch_size: int, norm: str = "layernorm") -> None:
        super().__init__()
        self.patch_size = patch_size
        self.up = nn.Linear(d_model, patch_size * d_model)
        self.mix_norm = make_norm(norm, d_model)
        self.fc = nn.Linear(d_model, d_model)
        self.act = nn.GELU()
        self.proj = nn.Linear(d_model, d_model)
        self.norm = make_norm(norm, d_model)

    def forward(self, hidden: Tensor, skip: Tensor) -> Tensor:
        batch, tokens, width = hidden.shape
        x = self.up(hidden).reshape(batch, tokens * self.patch_size, width)  # [B, N * p, d]
        x = x + skip
        x = x + self.proj(self.act(self.fc(self.mix_norm(x))))
        return self.norm(x)  # [B, N * p, d]
