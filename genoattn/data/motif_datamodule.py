"""``MotifPairDataModule``: the long-range motif interaction task (:mod:`genoattn.data.motif_pairs`) for Lightning.

Background comes from a genome split by whole contigs (test: every ``holdout_every``-th contig of the
name-sorted list, as the E. coli baselines; val: ``val_fraction`` of the rest, drawn with ``split_seed``). Each
split's contigs are concatenated end to end (contigs of any length, windows up to 1M nt and more; a window may
span a contig junction) and windows are cut at random offsets, wrapping around the end of the split.
Batches are dicts like GenomeDataModule's: ``input_ids`` int64 [B, L], ``labels`` int64 [B] or [B, L], plus
``kind``, ``distance`` int64 [B] and ``site_pos``, ``site_motif``, ``site_strand`` int64 [B, 2].
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import Dataset

from genoattn.data import vocab
from genoattn.data.datasets import BatchLoader
from genoattn.data.genome import Genome
from genoattn.data.motif_pairs import KINDS, LEVELS, SITE_CLASSES, SITE_PRESENCE, MotifPairWindows, band_layout
from genoattn.data.motifs import pick_motif, read_motifs
from genoattn.data.tokenizers import encode_nucleotides
from genoattn.data.windows import split_contigs
from genoattn.errors import ConfigError

SPLITS = ("train", "val", "test")
DEFAULT_FASTA = "data/ecoli_prokka/genome.fa.gz"
DEFAULT_MOTIFS = "data/motifs/jaspar2024_pairs.jaspar"


class EpochBatchSampler(torch.utils.data.Sampler):
    """Yields ``(epoch, window indices)`` per batch, in index order (the placements are already random).

    ``set_epoch`` (Lightning calls it) fixes the epoch; without it each pass takes the next one. ``fixed``
    (evaluation) makes every pass epoch 0.
    """

    def __init__(self, num_windows: int, batch_size: int, *, drop_last: bool = False, fixed: bool = False) -> None:
        self.num_windows, self.batch_size, self.drop_last, self.fixed = num_windows, batch_size, drop_last, fixed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        full, rest = divmod(self.num_windows, self.batch_size)
        return full if self.drop_last or not rest else full + 1

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        epoch = 0 if self.fixed else self.epoch
        if not self.fixed:
            self.epoch += 1
        for b in range(len(self)):
            yield epoch, np.arange(b * self.batch_size, min((b + 1) * self.batch_size, self.num_windows))


class MotifPairBatches(Dataset):
    """Whole batches of one split as torch tensors (``input_ids`` uint8 and token ``labels`` int8: the
    BatchLoader widens them to int64 in the main process)."""

    def __init__(self, windows: MotifPairWindows) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return self.windows.num_windows

    def __getitem__(self, key: tuple[int, np.ndarray]) -> dict[str, torch.Tensor]:
        epoch, indices = key
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.windows.batch(indices, epoch).items()}


class MotifPairDataModule(pl.LightningDataModule):
    """Windows with two planted motif sites; label: A and B on one strand at a distance in ``band``.

    Args:
        fasta: background genome (FASTA, gzip/bgzip, or GenBank), split by whole contigs.
        motifs: JASPAR file with the motif matrices.
        motif_a, motif_b: the two motifs, by matrix id (``MA2100.1``), id without version or unique name.
        window: bases per window (= tokens: one token per nucleotide).
        band: ``(lo, hi)``: the positive distance band in nt, half-open (see ``distance_bands``).
        level: ``sequence`` (one label per window) or ``token`` (labels on the B sites' bases only).
        site_classes: token level: every base gets one of four classes (background, paired B site, A site,
            unpaired B site; :data:`genoattn.data.motif_pairs.SITE_CLASSES`), so the motif detectors are taught
            directly and the patterns differ only in the pair decision. Scored on the B sites alike.
        site_labels: sequence level: batches also carry ``site_labels`` [B, L], every base's site without its
            pairing (:data:`genoattn.data.motif_pairs.SITE_PRESENCE`), for the auxiliary per-base loss of a
            ``GenomeTransformer(site_classes=3)``; the window label stays the only source of the pair decision.
        background: ``genome`` (windows of the genome) or ``shuffle`` (each window dinucleotide-shuffled).
        train_windows_per_epoch: fresh training windows per epoch.
        val_windows, test_windows: sizes of the fixed val / test sets.
        batch_size, eval_batch_size: windows per training / evaluation batch (eval default: batch_size).
        num_workers: dataloader worker processes.
        seed: seed of every window (same seed, same windows, whatever the batch size or workers).
        holdout_every: test split = contigs sorted by name, index % n == 0.
        val_fraction: fraction of the contigs drawn (``split_seed``) from the rest for validation.
        split_seed: seed of the validation contig draw.
        shuffle_rounds: rounds of ``dinucleotide_shuffle`` with ``background="shuffle"``.
        pseudocount: added to every JASPAR count before sampling sites.
        cache_dir: genoattn's cache folder (decompressed genome).
        pin_memory: pin batches in page-locked memory.
    """

    def __init__(
        self,
        fasta: str = DEFAULT_FASTA,
        motifs: str = DEFAULT_MOTIFS,
        motif_a: str = "MA2100.1",
        motif_b: str = "MA2335.1",
        window: int = 4096,
        band: Sequence[int] = (100, 400),
        level: Literal["sequence", "token"] = "sequence",
        site_classes: bool = False,
        site_labels: bool = False,
        background: Literal["genome", "shuffle"] = "genome",
        train_windows_per_epoch: int = 2048,
        val_windows: int = 256,
        test_windows: int = 1024,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        holdout_every: int = 5,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        shuffle_rounds: int = 2,
        pseudocount: float = 0.5,
        cache_dir: str | None = None,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.fasta, self.motif_file, self.motif_a, self.motif_b = fasta, motifs, motif_a, motif_b
        self.window, self.band, self.level, self.background = window, tuple(int(b) for b in band), level, background
        self.site_classes, self.site_labels = site_classes, site_labels
        self.num_windows = {"train": train_windows_per_epoch, "val": val_windows, "test": test_windows}
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.num_workers, self.seed, self.pin_memory = num_workers, seed, pin_memory
        self.holdout_every, self.val_fraction, self.split_seed = holdout_every, val_fraction, split_seed
        self.shuffle_rounds, self.pseudocount, self.cache_dir = shuffle_rounds, pseudocount, cache_dir
        self._check_arguments()
        found = read_motifs(motifs, pseudocount)
        self.motifs = (pick_motif(found, motif_a, motifs), pick_motif(found, motif_b, motifs))
        if self.motifs[0].matrix_id == self.motifs[1].matrix_id:
            raise ConfigError(f"motif_b: must differ from motif_a (both are {self.motifs[0].matrix_id})")
        lo, hi = self.band  # two values (_check_arguments)
        self.layout = band_layout((lo, hi), window, (self.motifs[0].length, self.motifs[1].length))
        self.windows: dict[str, MotifPairWindows] = {}

    def _check_arguments(self) -> None:
        def need(ok: bool, arg: str, msg: str) -> None:
            if not ok:
                raise ConfigError(f"{arg}: {msg}")

        need(isinstance(self.window, int) and self.window >= 1, "window", f"expected a positive integer, "
             f"got {self.window!r}")
        need(len(self.band) == 2, "band", f"expected (lo, hi), got {self.band!r}")
        need(self.level in LEVELS, "level", f"expected one of {LEVELS}, got {self.level!r}")
        need(not self.site_classes or self.level == "token", "site_classes", "needs level 'token'")
        need(not self.site_labels or self.level == "sequence", "site_labels", "needs level 'sequence'")
        need(self.background in ("genome", "shuffle"), "background", f"expected 'genome' or 'shuffle', "
             f"got {self.background!r}")
        for split, n in self.num_windows.items():
            arg = "train_windows_per_epoch" if split == "train" else f"{split}_windows"
            need(isinstance(n, int) and n >= (1 if split == "train" else 0), arg, f"expected a count, got {n!r}")
        need(self.batch_size >= 1, "batch_size", f"expected >= 1, got {self.batch_size}")
        need(self.eval_batch_size >= 1, "eval_batch_size", f"expected >= 1, got {self.eval_batch_size}")
        need(self.num_workers >= 0, "num_workers", f"expected >= 0, got {self.num_workers}")
        need(self.shuffle_rounds >= 1, "shuffle_rounds", f"expected >= 1, got {self.shuffle_rounds}")

    # ------------------------------------------------------------------------------ what the model code reads

    @property
    def task(self) -> str:
        return "token_classification" if self.level == "token" else "sequence_classification"

    @property
    def num_classes(self) -> int:
        return len(SITE_CLASSES) if self.site_classes else 2

    @property
    def site_label_classes(self) -> int:
        """Classes of the batches' auxiliary ``site_labels`` (0: none)."""
        return len(SITE_PRESENCE) if self.site_labels else 0

    @property
    def vocab_size(self) -> int:
        return vocab.VOCAB_SIZE

    @property
    def tokens_per_window(self) -> int:
        return self.window

    # ------------------------------------------------------------------------------ set-up

    def setup(self, stage: str | None = None) -> None:
        """Read the genome, split it by contigs and build each split's window generator (once)."""
        if self.windows:
            return
        genome = Genome(self.fasta, cache_dir=self.cache_dir)
        lengths = genome.contigs
        splits = split_contigs(list(lengths), holdout_every=self.holdout_every, val_fraction=self.val_fraction,
                               seed=self.split_seed)
        self.split_bases = {s: sum(lengths[c] for c in splits[s]) for s in SPLITS}
        for code, split in enumerate(SPLITS):
            if not self.num_windows[split]:
                continue
            if not splits[split]:
                raise ConfigError(f"{split}_windows: the {split} split of {self.fasta} has no contigs "
                                  f"(set {split}_windows: 0 or change holdout_every / val_fraction)")
            background = np.concatenate([encode_nucleotides(genome.fetch(c, 0, lengths[c])) for c in splits[split]])
            if len(background) < self.window:
                warnings.warn(f"{self.fasta}: the {split} split holds {len(background):,} nt, less than one "
                              f"{self.window:,}-nt window; its windows wrap around and repeat sequence", stacklevel=2)
            self.windows[split] = MotifPairWindows(
                background, self.motifs, self.layout, self.num_windows[split], level=self.level,
                shuffle=self.background == "shuffle", shuffle_rounds=self.shuffle_rounds, seed=self.seed,
                split_code=code, fixed=split != "train", site_classes=self.site_classes, site_labels=self.site_labels)
        genome.close()

    # ------------------------------------------------------------------------------ dataloaders

    def _loader(self, split: str, batch_size: int, drop_last: bool = False) -> BatchLoader | list:
        self.setup("fit")
        if split not in self.windows:
            return []  # no windows asked for: Lightning skips the loop
        windows = self.windows[split]
        sampler = EpochBatchSampler(windows.num_windows, batch_size, drop_last=drop_last, fixed=windows.fixed)
        workers = self.num_workers
        return BatchLoader(MotifPairBatches(windows), batch_size=None, sampler=sampler, num_workers=workers,
                           persistent_workers=workers > 0, pin_memory=self.pin_memory,
                           prefetch_factor=4 if workers > 0 else None)

    def train_dataloader(self) -> BatchLoader:
        n = self.num_windows["train"]
        loader = self._loader("train", self.batch_size, drop_last=n >= self.batch_size)
        assert isinstance(loader, BatchLoader)  # train_windows_per_epoch >= 1: setup built the train windows
        return loader

    def val_dataloader(self) -> BatchLoader | list:
        return self._loader("val", self.eval_batch_size)

    def test_dataloader(self) -> BatchLoader | list:
        return self._loader("test", self.eval_batch_size)

    # ------------------------------------------------------------------------------ summary

    def describe(self) -> str:
        """Motifs, band, decoy ranges, the splits' bases and windows, and the kind shares of the test set."""
        self.setup("fit")
        a, b = self.motifs
        lay = self.layout
        lines = [f"motif pairs: A {a.matrix_id} {a.name} ({a.length} nt), B {b.matrix_id} {b.name} ({b.length} nt); "
                 f"{self.level} labels, background {self.background}, window {self.window:,} nt",
                 f"band [{lay.lo:,}, {lay.hi:,}) nt; near decoys {lay.near}, far decoys {lay.far}"]
        for split in SPLITS:
            lines.append(f"  {split:<5} {self.split_bases[split]:>12,} nt background, "
                         f"{self.num_windows[split]:>7,} windows{' per epoch' if split == 'train' else ''}")
        if "test" in self.windows:
            kinds = np.bincount(self.windows["test"].placements().kind, minlength=len(KINDS))
            lines.append("  test kinds: " + ", ".join(f"{k}={n}" for k, n in zip(KINDS, kinds)))
        return "\n".join(lines)

    def stats(self) -> dict[str, Any]:
        """Split sizes and the band layout as plain numbers."""
        self.setup("fit")
        return {"window": self.window, "band": list(self.band), "near": self.layout.near, "far": self.layout.far,
                "level": self.level, "background": self.background, "split_bases": dict(self.split_bases),
                "windows": dict(self.num_windows), "motifs": [m.matrix_id for m in self.motifs]}
