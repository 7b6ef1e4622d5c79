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

from genoattn.data.vocab import VOCAB_SIZE, A, C, G, T
from genoattn.errors import ConfigError
from genoattn.models.blocks import make_norm

_BASE_INDEX = torch.full((VOCAB_SIZE,), 4, dtype=torch.long)  # token id -> A/C/G/T index 0..3, else 4
_BASE_INDEX[[A, C, G, T]] = torch.arange(4)


class PatchStem(nn.Module):
    """Strided convolution over nucleotide embeddings: [B, L, d] -> [B, L / p, d] (L a multiple of p).

    Args:
        d_model: width of the embeddings and of the output tokens.
        patch_size: stride p (nucleotides per output token).
        kernel_size: conv width k >= p (default p: non-overlapping patches); a wider kernel also sees
            (k - p) // 2 nucleotides before and the rest after each patch (zero-padded at the ends).
        hidden: width of a hidden GELU layer between the window and the token (0: one linear map).
        kmer: > 1 replaces the first layer's nucleotide inputs by the k-mers starting at each offset of the
            window (learned vectors per offset and k-mer; ``forward_ids`` only). k = 3 sees codons directly.
        frame_features: > 0: ``forward_ids`` also takes that many features per nucleotide (e.g. the reading-frame
            features of :mod:`genoattn.models.frames`); a linear map of the patch's own features joins the first
            layer (the same as concatenating them to its input).
    """

    base_index: Tensor  # buffer [VOCAB_SIZE] with kmer > 1

    def __init__(self, d_model: int, patch_size: int, kernel_size: int | None = None, hidden: int = 0,
                 kmer: int = 1, frame_features: int = 0) -> None:
        super().__init__()
        kernel_size = patch_size if kernel_size is None else kernel_size
        if patch_size < 1 or kernel_size < patch_size:
            raise ConfigError(
                f"model.stem_kernel_size must be >= model.patch_size >= 1, got patch_size={patch_size}, "
                f"stem_kernel_size={kernel_size}"
            )
        if not 1 <= kmer <= min(kernel_size, 6):
            raise ConfigError(f"model.stem_kmer must be in 1..min(stem_kernel_size, 6), got {kmer}")
        self.patch_size = patch_size
        self.kernel_size = kernel_size
        self.kmer = kmer
        self.pad_left = (kernel_size - patch_size) // 2
        self.pad_right = kernel_size - patch_size - self.pad_left
        self.frame_features = frame_features
        self.frame_linear = (nn.Linear(patch_size * frame_features, hidden or d_model, bias=False)
                             if frame_features else None)
        if kmer > 1:  # one learned vector per (offset in the window, k-mer); 4**k + 1: any k-mer with a non-ACGT
            offsets = kernel_size - kmer + 1
            self.kmer_table = nn.Embedding(offsets * (4**kmer + 1), hidden or d_model)
            nn.init.normal_(self.kmer_table.weight, std=offsets**-0.5)  # a window's sum starts at unit scale
            self.kmer_bias = nn.Parameter(torch.zeros(hidden or d_model))
            self.register_buffer("base_index", _BASE_INDEX.clone(), persistent=False)  # follows .to(device)
            self.linear: nn.Module = (
                nn.Sequential(nn.Identity(), nn.GELU(), nn.Linear(hidden, d_model)) if hidden else nn.Identity()
            )
        elif hidden:  # a one-hidden-layer MLP over each window: detects k-mers (e.g. stop codons) directly
            self.linear = nn.Sequential(
                nn.Linear(kernel_size * d_model, hidden), nn.GELU(), nn.Linear(hidden, d_model)
            )
        else:
            self.linear = nn.Linear(kernel_size * d_model, d_model)

    def forward(self, x: Tensor) -> Tensor:
        if self.kmer > 1:
            raise ConfigError("PatchStem with kmer > 1 reads token ids: call forward_ids")
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

    def forward_ids(self, input_ids: Tensor, embedding: Tensor, features: Tensor | None = None,
                    context: tuple[int, int] = (0, 0)) -> Tensor:
        """``forward(embedding[input_ids])`` without materialising the windows: [B, L] ids -> [B, N, d].

        The first linear map over a window of k embeddings is a sum over offsets of ``W_j @ e(id_j)``, so
        it is a sum of k rows of per-offset tables ``T[j, v] = W_j @ e(v)`` (computed from the current
        weights on every call, so gradients reach both): an ``embedding_bag`` of k lookups per token
        instead of a (k * d) x hidden matrix product, about k * d times fewer multiply-adds.
        Zero padding at the ends is an extra all-zero table row. ``features`` [B, L, frame_features] (required when
        the stem was built with ``frame_features``) add a linear map of each patch's features to the first layer.
        ``context`` (left, right): input_ids also hold that many ids of the sequence before the first patch and after
        the last (at most the padding each side; a shard of a longer sequence), which replace that much padding.
        """
        batch, length = input_ids.shape
        length -= sum(context)
        if length % self.patch_size:
            raise ConfigError(f"PatchStem: length {length} is not a multiple of patch_size {self.patch_size}")
        if (features is None) != (self.frame_linear is None):
            raise ConfigError(f"PatchStem: built with frame_features={self.frame_features}, called with "
                              f"{'no' if features is None else 'extra'} features")
        extra = None
        if self.frame_linear is not None:
            assert features is not None  # checked above
            extra = self.frame_linear(features.reshape(batch, length // self.patch_size, -1))  # [B, N, h]
        pad = (self.pad_left - context[0], self.pad_right - context[1])
        if min(pad) < 0:
            raise ConfigError(f"PatchStem: context {context} exceeds the padding ({self.pad_left}, {self.pad_right})")
        if self.kmer > 1:
            return self._forward_kmers(input_ids, extra, pad)
        first = self.linear[0] if isinstance(self.linear, nn.Sequential) else self.linear
        assert isinstance(first, nn.Linear)  # kmer == 1: the first layer is a linear map of the window
        vocab, width = embedding.shape
        padded = torch.cat([embedding, embedding.new_zeros(1, width)])  # [V + 1, d]; row V: zero padding
        weight = first.weight.reshape(first.out_features, self.kernel_size, width)  # [h, k, d]
        tables = torch.einsum("hkd,vd->kvh", weight, padded).reshape(-1, first.out_features)  # [k * (V+1), h]
        ids = F.pad(input_ids, pad, value=vocab)  # [B, L + k - p]
        windows = ids.unfold(1, self.kernel_size, self.patch_size)  # [B, N, k]
        return self._sum_rows(windows, vocab + 1, tables, first.bias, extra)

    def _forward_kmers(self, input_ids: Tensor, extra: Tensor | None, pad: tuple[int, int]) -> Tensor:
        """k-mer stem: the window's first layer is a sum of learned vectors, one per (offset, k-mer), so a codon
        (k = 3) such as a stop codon at a given offset is one table row rather than a conjunction to learn."""
        base = self.base_index[input_ids]  # [B, L]: A/C/G/T -> 0..3, anything else -> 4
        base = F.pad(base, pad, value=4)  # [B, L + k - p]; padding: unknown
        grams = base.unfold(1, self.kmer, 1)  # [B, L + k - p - kmer + 1, kmer]
        unknown = (grams == 4).any(-1)
        weights = 4 ** torch.arange(self.kmer - 1, -1, -1, device=base.device)  # [kmer]
        kmer_ids = torch.where(unknown, 4**self.kmer, (grams * weights).sum(-1))  # [B, L + k - p - kmer + 1]
        windows = kmer_ids.unfold(1, self.kernel_size - self.kmer + 1, self.patch_size)  # [B, N, offsets]
        return self._sum_rows(windows, 4**self.kmer + 1, self.kmer_table.weight, self.kmer_bias, extra)

    def _sum_rows(self, windows: Tensor, rows_per_offset: int, table: Tensor, bias: Tensor,
                  extra: Tensor | None = None) -> Tensor:
        """First layer as a table lookup (plus ``extra`` [B, N, h] when given), then the rest of the stem: windows
        [B, N, n] hold, per token and window offset o, a row within offset o's block of ``rows_per_offset`` rows
        of ``table`` [n * R, h]."""
        batch, _, n = windows.shape
        bags = windows + torch.arange(n, device=windows.device) * rows_per_offset  # [B, N, n] rows of the table
        hidden = F.embedding_bag(bags.reshape(-1, n), table, mode="sum") + bias  # [B * N, h]
        hidden = hidden.reshape(batch, -1, table.shape[-1])  # [B, N, h]
        if extra is not None:
            hidden = hidden + extra
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
