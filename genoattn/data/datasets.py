"""Batch-building datasets over genome windows.

The dataloader runs with ``batch_size=None``: a :class:`BatchWindowsSampler` (main process) decides
which windows form each batch and gives every batch its own seed; :class:`WindowBatchDataset`
(worker processes) turns one :class:`BatchWindows` into a whole batch with a few numpy slicing
operations. All randomness inside a batch (shift, reverse complement, MLM masking) comes from the
batch's seed ``(seed, epoch, batch)``, so batches do not depend on the number of workers.

Batch dict: ``input_ids`` int64 [B, T] (T = window / k), ``labels`` int64 [B, T] (token tasks and
MLM; IGNORE_INDEX where unknown), int64 [B] (sequence classification) or float32 [B]
(regression), ``contig`` list[str], ``start`` int64 [B], ``length`` int64 [B] (bases inside the
contig; < window only for padded short contigs), ``strand`` list[str] ("-" where reverse-complemented),
and with several genomes ``genome`` int64 [B] (index of each row's genome).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genoattn.data import vocab
from genoattn.data.augment import reverse_complement_rows, shift_composition, shift_starts
from genoattn.data.genome_set import JoinedSources
from genoattn.data.labels import (
    IntervalIndex,
    LabelMode,
    mask_tokens,
    nucleotide_labels,
    window_overlap_labels,
    window_scores,
)
from genoattn.data.tokenizers import Tokenizer, encode_nucleotides
from genoattn.data.windows import Windows, central_keep
from genoattn.tasks import Task


def _gather_rows(concat: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, contig_index: np.ndarray,
                 start: np.ndarray, window: int, fill: int) -> np.ndarray:
    """Rows ``concat[offsets[c] + s : offsets[c] + s + window]`` -> [B, window]; ``fill`` past a contig end."""
    lens = lengths[contig_index]
    first = offsets[contig_index] + start  # [B] positions in the concatenated array
    if np.all(start + window <= lens):  # fast path: one strided copy per row
        return np.lib.stride_tricks.sliding_window_view(concat, window)[first]
    pos = np.arange(window, dtype=np.int64)
    idx = np.minimum(first[:, None] + pos, len(concat) - 1)  # [B, window]
    out = concat[idx]
    out[start[:, None] + pos >= lens[:, None]] = fill
    return out


class InMemorySequences:
    """Nucleotide ids (uint8) of every contig, concatenated into one array with per-contig offsets."""

    def __init__(self, ids_by_contig: Mapping[str, np.ndarray]):
        self.contig_names = tuple(ids_by_contig)
        self.lengths = np.array([len(a) for a in ids_by_contig.values()], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.ids = np.concatenate([np.asarray(a, dtype=np.uint8) for a in ids_by_contig.values()])

    def gather(self, contig_index: np.ndarray, start: np.ndarray, window: int) -> np.ndarray:
        """uint8 [B, window] nucleotide ids (PAD past a contig end)."""
        return _gather_rows(self.ids, self.offsets, self.lengths, contig_index, start, window, vocab.PAD)


class FastaSequences:
    """Nucleotide ids read per window through a :class:`~genoattn.data.genome.Genome` (pyfaidx);
    the genome reopens its file handle lazily in each worker process."""

    def __init__(self, genome: Any, contig_names: Sequence[str]):
        self.genome = genome
        self.contig_names = tuple(contig_names)
        lengths = genome.contigs
        self.lengths = np.array([lengths[c] for c in self.contig_names], dtype=np.int64)

    def gather(self, contig_index: np.ndarray, start: np.ndarray, window: int) -> np.ndarray:
        out = np.full((len(start), window), vocab.PAD, dtype=np.uint8)  # [B, window]
        for row, (ci, s) in enumerate(zip(contig_index, start)):
            end = min(int(s) + window, int(self.lengths[ci]))
            seq = self.genome.fetch(self.contig_names[ci], int(s), end)
            out[row, : end - int(s)] = encode_nucleotides(seq)
        return out


class ArrayLabels:
    """Per-nucleotide labels (int8) of every contig, built once, concatenated like InMemorySequences."""

    def __init__(self, labels_by_contig: Mapping[str, np.ndarray], contig_names: Sequence[str]):
        empty = np.zeros(0, dtype=np.int8)
        arrays = [labels_by_contig.get(c, empty) for c in contig_names]
        self.lengths = np.array([len(a) for a in arrays], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.labels = np.concatenate(arrays).astype(np.int8) if arrays else empty

    def gather(self, contig_index: np.ndarray, start: np.ndarray, window: int) -> np.ndarray:
        """int8 [B, window] labels (IGNORE_INDEX past a contig end)."""
        return _gather_rows(self.labels, self.offsets, self.lengths, contig_index, start, window,
                            vocab.IGNORE_INDEX)


class IntervalLabels:
    """Per-nucleotide labels computed per window from the interval index (for genomes not held in memory)."""

    def __init__(self, index: IntervalIndex, mode: LabelMode, contig_names: Sequence[str], lengths: np.ndarray):
        self.index, self.mode = index, mode
        self.contig_names, self.lengths = tuple(contig_names), lengths

    def gather(self, contig_index: np.ndarray, start: np.ndarray, window: int) -> np.ndarray:
        out = np.full((len(start), window), vocab.IGNORE_INDEX, dtype=np.int8)  # [B, window]
        for row, (ci, s) in enumerate(zip(contig_index, start)):
            end = min(int(s) + window, int(self.lengths[ci]))
            out[row, : end - int(s)] = nucleotide_labels(self.index, self.contig_names[ci], int(s), end, self.mode)
        return out


@dataclass(frozen=True)
class BatchWindows:
    """What one batch holds: windows (contig index, start) and the seed of its random choices."""

    contig_index: np.ndarray  # int32 [B]
    start: np.ndarray  # int64 [B]
    seed: tuple[int, ...]


class WindowBatchDataset(torch.utils.data.Dataset):
    """``dataset[chosen]`` (a :class:`BatchWindows`) -> one batch dict (see the module docstring). Labels per task:

    - ``token_classification``: per-nucleotide labels from ``nucleotide_labels`` (ArrayLabels or
      IntervalLabels); with a k-mer tokenizer each token takes the label of its middle base.
    - ``sequence_classification``: :func:`window_overlap_labels` with ``min_overlap``.
    - ``regression``: :func:`window_scores` (``default_score`` where no scored interval overlaps).
    - ``mlm``: :func:`mask_tokens` with ``mlm_probability``.
    - ``None``: no labels (prediction).
    """

    def __init__(self, sequences: InMemorySequences | FastaSequences | JoinedSources, tokenizer: Tokenizer,
                 window: int, task: Task | None, *,
                 nucleotide_label_source: ArrayLabels | IntervalLabels | JoinedSources | None = None,
                 interval_index: IntervalIndex | None = None, label_mode: LabelMode = "binary",
                 min_overlap: float = 0.5, default_score: float = 0.0, mlm_probability: float = 0.15,
                 rc_augment: bool = False, shift_augment: int = 0, compact: bool = False, eval_context: int = 0,
                 contig_genome: np.ndarray | None = None, frame_label_source: Any = None,
                 composition_augment: float = 0.0, composition_strength: float = 2.0,
                 genetic_code: np.ndarray | None = None):
        self.sequences, self.tokenizer, self.window, self.task = sequences, tokenizer, window, task
        self.nucleotide_label_source, self.interval_index = nucleotide_label_source, interval_index
        self.label_mode, self.min_overlap, self.default_score = label_mode, min_overlap, default_score
        self.mlm_probability, self.rc_augment, self.shift_augment = mlm_probability, rc_augment, shift_augment
        self.eval_context = eval_context  # > 0: per-nt labels only on each window's central part (central_keep)
        self.contig_genome = contig_genome  # [contigs] genome index of each contig (several genomes), or None
        # composition_augment: fraction of rows whose codon usage / GC is shifted (needs frame labels)
        self.frame_label_source, self.composition_augment = frame_label_source, composition_augment
        self.composition_strength = composition_strength
        self.genetic_code = genetic_code  # [contigs] NCBI table of each contig's CDS (default 11 for all)
        if composition_augment and frame_label_source is None:
            raise ValueError("composition_augment needs a frame_label_source")
        # compact: token ids and integer labels leave in the smallest dtype that holds them (4-8x fewer bytes
        # to move out of a worker process); BatchLoader widens them back to int64 in the main process.
        self.id_dtype = _smallest_int(0, tokenizer.vocab_size - 1) if compact else np.int64
        self.label_dtype = _smallest_int(vocab.IGNORE_INDEX, tokenizer.vocab_size - 1) if compact else np.int64
        if task == "token_classification" and nucleotide_label_source is None:
            raise ValueError("token_classification needs a nucleotide_label_source")
        if task in ("sequence_classification", "regression") and interval_index is None:
            raise ValueError(f"{task} needs an interval_index")

    def __getitem__(self, chosen: BatchWindows) -> dict[str, Any]:
        rng = np.random.default_rng(chosen.seed)
        ci = np.asarray(chosen.contig_index)
        lens = self.sequences.lengths[ci]  # [B]
        start = shift_starts(np.asarray(chosen.start, dtype=np.int64), lens, self.window, self.shift_augment, rng)
        nt = self.sequences.gather(ci, start, self.window)  # uint8 [B, window]
        names = [self.sequences.contig_names[i] for i in ci]

        labels: np.ndarray | None = None
        if self.task == "token_classification":
            assert self.nucleotide_label_source is not None  # __init__: token_classification needs one
            labels = self.nucleotide_label_source.gather(ci, start, self.window)  # int8 [B, window]
            if self.eval_context:
                keep_start, keep_end = central_keep(start, lens, self.window, self.eval_context)
                offset = np.arange(self.window)[None, :]  # [1, window]
                outside = (offset < keep_start[:, None]) | (offset >= keep_end[:, None])  # [B, window]
                labels = np.where(outside, vocab.IGNORE_INDEX, labels).astype(labels.dtype)
        elif self.task in ("sequence_classification", "regression"):
            labels = self._window_labels(names, start)
        if self.composition_augment:
            shifted = rng.random(len(start)) < self.composition_augment  # [B]
            strength = np.where(shifted, rng.uniform(-1, 1, len(start)) * self.composition_strength, 0.0)
            codes = self.genetic_code[ci] if self.genetic_code is not None else 11
            nt = shift_composition(nt, self.frame_label_source.gather(ci, start, self.window), strength, rng,
                                   genetic_code=codes)
        flip = rng.random(len(start)) < 0.5 if self.rc_augment else np.zeros(len(start), dtype=bool)
        per_nt = labels if self.task == "token_classification" else None
        nt, per_nt = reverse_complement_rows(nt, per_nt, flip, self.label_mode)

        tokens = self.tokenizer.encode_nucleotides(nt)  # [B, window // k]
        if self.task == "token_classification":
            k = self.tokenizer.k
            assert per_nt is not None  # token_classification: per-nt labels went in
            labels = per_nt[:, k // 2 :: k] if k > 1 else per_nt  # label of each token's middle base
        elif self.task == "mlm":
            tokens, labels = mask_tokens(tokens, rng, self.tokenizer, self.mlm_probability)

        batch: dict[str, Any] = {
            "input_ids": torch.from_numpy(np.ascontiguousarray(tokens, dtype=self.id_dtype)),
            "contig": names,
            "start": torch.from_numpy(start.astype(np.int64)),
            "length": torch.from_numpy(np.minimum(lens - start, self.window).astype(np.int64)),
            "strand": ["-" if f else "+" for f in flip],
        }
        if self.contig_genome is not None:
            batch["genome"] = torch.from_numpy(self.contig_genome[ci].astype(np.int64))
        if labels is not None:
            dtypes: dict[Task | None, type] = {"regression": np.float32, "sequence_classification": np.int64}
            dtype = dtypes.get(self.task, self.label_dtype)
            batch["labels"] = torch.from_numpy(np.ascontiguousarray(labels, dtype=dtype))
        return batch

    def _window_labels(self, names: list[str], start: np.ndarray) -> np.ndarray:
        assert self.interval_index is not None  # __init__: the window-level tasks need one
        out = np.zeros(len(start), dtype=np.float32 if self.task == "regression" else np.int64)
        for i, (name, s) in enumerate(zip(names, start)):
            if self.task == "regression":
                out[i] = window_scores(self.interval_index, name, s[None], self.window, self.default_score)[0]
            else:
                out[i] = window_overlap_labels(self.interval_index, name, s[None], self.window, self.min_overlap)[0]
        return out


def _smallest_int(low: int, high: int) -> type:
    for dtype in (np.uint8, np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return dtype
    return np.int64


def widen_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """Integer tensors of a batch as int64 (undoes ``compact``); float and int64 tensors stay as they are."""
    for key in ("input_ids", "labels", "site_labels"):
        value = batch.get(key)
        if isinstance(value, torch.Tensor) and not value.is_floating_point() and value.dtype != torch.int64:
            batch[key] = value.long()
    return batch


class BatchLoader(torch.utils.data.DataLoader):
    """DataLoader of whole batches (``batch_size=None``) that widens compact integer tensors to int64 as it
    yields them, so worker processes can send 1-2 byte ids while every batch still arrives as int64."""

    # torch types DataLoader.__iter__ as returning its own iterator class; this one is a generator of batches
    def __iter__(self) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        for batch in super().__iter__():
            yield widen_batch(batch)


class BatchWindowsSampler(torch.utils.data.Sampler):
    """Yields one :class:`BatchWindows` per batch.

    Each pass (epoch) draws from ``np.random.default_rng((seed, epoch))``: the windows (``resample``,
    e.g. random jittered training windows, else the fixed ``windows``) and their order (``shuffle``).
    Batch ``b`` gets the seed ``(seed, epoch, b)``. ``set_epoch`` (called by Lightning) fixes the
    epoch; without it each pass uses the next epoch. ``fixed_epoch=True`` (evaluation) makes every
    pass identical.
    """

    def __init__(self, windows: Windows | None, batch_size: int, *, shuffle: bool = False,
                 drop_last: bool = False, seed: int = 0, fixed_epoch: bool = False,
                 resample: Callable[[np.random.Generator], Windows] | None = None, num_windows: int | None = None):
        if windows is None and (resample is None or num_windows is None):
            raise ValueError("BatchWindowsSampler: give windows, or resample and num_windows")
        self.windows, self.batch_size, self.shuffle, self.drop_last = windows, batch_size, shuffle, drop_last
        self.seed, self.fixed_epoch, self.resample = seed, fixed_epoch, resample
        if num_windows is None:
            assert windows is not None  # checked above
            num_windows = len(windows)
        self.num_windows = num_windows
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        full, rest = divmod(self.num_windows, self.batch_size)
        return full if self.drop_last or not rest else full + 1

    def __iter__(self) -> Iterator[BatchWindows]:
        epoch = 0 if self.fixed_epoch else self.epoch
        if not self.fixed_epoch:
            self.epoch += 1
        rng = np.random.default_rng((self.seed, epoch))
        windows = self.resample(rng) if self.resample is not None else self.windows
        assert windows is not None  # __init__: windows, or resample
        order = rng.permutation(len(windows)) if self.shuffle else np.arange(len(windows))
        for b in range(len(self)):
            sel = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield BatchWindows(windows.contig_index[sel], windows.start[sel], (self.seed, epoch, b))
