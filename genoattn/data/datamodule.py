"""``GenomeDataModule``: FASTA + annotation -> tokenised, labelled windows for Lightning.

Set-up (``setup()``, once): open the genome, read and check the annotation, split whole contigs into
train/val/test, tile each split into windows and drop windows with too many N, build the labels.
With ``genomes=[...]`` each genome is opened and split on its own, then all are joined
(:mod:`genoattn.data.genome_set`): contigs named ``"<genome>:<contig>"``, random training windows drawn with
per-genome weights, and val/test batches carry each row's genome index (``batch["genome"]``) so that
every genome is scored separately.
Dataloaders run with ``batch_size=None`` over a :class:`~genoattn.data.datasets.BatchWindowsSampler`, so
each worker builds whole batches by numpy slicing (see :mod:`genoattn.data.datasets`).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import pytorch_lightning as pl
from torch.utils.data import DataLoader

from genoattn.data import vocab
from genoattn.data.annotations import Interval, check_intervals, read_annotation
from genoattn.data.datasets import (
    ArrayLabels,
    BatchLoader,
    BatchWindowsSampler,
    FastaSequences,
    InMemorySequences,
    IntervalLabels,
    WindowBatchDataset,
)
from genoattn.data.genome import Genome
from genoattn.data.genome_set import (
    GenomeSpec,
    JoinedSources,
    check_genome_specs,
    default_genome_name,
    joined_name,
    window_probabilities,
)
from genoattn.data.labels import (
    LABEL_CLASSES,
    IntervalIndex,
    LabelMode,
    contig_labels,
    nucleotide_labels,
    read_scores,
    window_overlap_labels,
    window_scores,
)
from genoattn.data.tokenizers import build_tokenizer, encode_nucleotides
from genoattn.data.windows import (
    NContent,
    Windows,
    filter_n,
    n_runs,
    random_windows,
    split_contigs,
    tile_windows,
)
from genoattn.errors import ConfigError, InputError
from genoattn.tasks import TASKS, Task

SPLITS = ("train", "val", "test")
_FETCH_CHUNK = 8_000_000  # bases read at a time when scanning a genome that is not held in memory


class _OpenedGenome(NamedTuple):
    """One genome of the data module, opened, labelled and split."""

    genome: Genome
    sequences: InMemorySequences | FastaSequences
    n_content: NContent
    in_memory: bool
    intervals: list[Interval] | None
    interval_index: IntervalIndex | None
    labels: ArrayLabels | IntervalLabels | None
    frames: ArrayLabels | IntervalLabels | None  # codon positions, for composition_augment
    splits: dict[str, list[str]]


def _all_built(sources: list[ArrayLabels | IntervalLabels | None]) -> list[ArrayLabels | IntervalLabels]:
    """Per-genome label sources that the task built for every genome (none is None)."""
    built = [source for source in sources if source is not None]
    assert len(built) == len(sources)
    return built


class GenomeDataModule(pl.LightningDataModule):
    """Windows of a genome, tokenised and labelled for one task, split by whole contigs.

    Args:
        fasta: genome FASTA (plain, gzip or bgzip; multi-FASTA) or GenBank file (the one-genome form; give
            ``genomes`` instead for several).
        annotation: BED / GFF3 / GTF / GenBank annotation (labels of token and sequence classification), or
            for regression a BED/TSV file with a score column. Not needed for ``mlm``.
        task: ``token_classification`` (one label per token), ``sequence_classification`` (one binary
            label per window), ``regression`` (one float per window) or ``mlm`` (masked-LM pretraining).
        feature_types: annotation feature types that make the labels (GFF column 3 / GenBank keys);
            an empty list keeps every type. Ignored for BED files.
        label_mode: per-nucleotide labels of token classification: ``binary`` (feature vs none),
            ``strand`` (0 none, 1 plus, 2 minus) or ``frame`` (0 none, 1-3 plus-strand codon position,
            4-6 minus-strand); conflicting overlaps get IGNORE_INDEX.
        min_overlap: sequence classification: a window is positive when an interval overlaps it by at
            least this fraction of the shorter of the two.
        score_column: regression: score column of the BED/TSV file, 0-based index or header name.
        window: bases per window (a multiple of ``k`` with the k-mer tokenizer).
        stride: bases between tiled windows (default: ``window``, no overlap). The last window of a
            contig is shifted back to end at the contig end.
        train_windows_per_epoch: when set, each training epoch draws this many windows at random (with
            replacement) from the training tiles and jitters them; else training uses the tiles.
        jitter: largest random shift (bases) of those random training windows; default: ``stride``.
        max_n_fraction: windows with a larger fraction of N bases are dropped (1.0 keeps all).
        short_contigs: contigs shorter than ``window``: ``skip`` (with a warning) or ``pad`` (one
            window at 0 padded with PAD; labels IGNORE_INDEX on the padding).
        test_contigs: test split by contig names (``test_fraction`` is then ignored; giving ``holdout_every``
            too is a ConfigError); with ``genomes``, joined names ``"<genome>:<contig>"``.
        val_contigs: validation split by contig names.
        val_fraction: fraction of contigs drawn (with ``split_seed``) for validation when
            ``val_contigs`` is not given; 0 for no validation split.
        test_fraction: fraction of contigs drawn for test when neither ``test_contigs`` nor
            ``holdout_every`` is given; 0 for no test split.
        holdout_every: test split = every n-th contig of the name-sorted list (index % n == 0), the rule
            of the E. coli baselines in data/README.md (n = 5).
        split_seed: seed of the contig draws of ``val_fraction``/``test_fraction``.
        batch_size: windows per training batch.
        eval_batch_size: windows per val/test/predict batch (default: ``batch_size``).
        eval_context: per-nucleotide val/test: tile with stride ``window - 2 * eval_context`` and score each
            base once, in the window that gives it at least this much context on both sides where the contig
            allows (as ``genoattn.predict`` stitches); 0 scores every base of non-overlapping windows.
        num_workers: dataloader worker processes (each opens its own file handle).
        rc_augment: training: reverse-complement each window with probability 0.5 (labels follow).
        composition_augment: training, per-nucleotide tasks: fraction of windows given another codon usage and GC
            content, labels unchanged (:func:`~genoattn.data.augment.shift_composition`: CDS codons redrawn among
            synonyms, non-coding bases mutated towards G/C or A/T).
        composition_strength: largest strength of that shift (drawn uniformly in [-s, s] per window; 2 moves
            the synonymous codon usage of a 50%-GC genome to about 15-85% GC at the third codon position).
        shift_augment: training: shift each window by up to this many bases (labels follow).
        tokenizer: ``nucleotide`` (one token per base) or ``kmer`` (non-overlapping k-mers).
        k: k-mer size for ``tokenizer: kmer`` (vocabulary 5 + 4**k); ignored otherwise.
        uppercase: upper-case soft-masked (lowercase) bases when reading (tokens are the same either way).
        mlm_probability: fraction of tokens masked for ``mlm`` (80% MASK, 10% random, 10% kept).
        seed: seed of the batch order, random windows and augmentation (same seed, same batches).
        in_memory: hold the genome's token ids (and labels) in memory; default: when the genome is at
            most ``in_memory_max_bp`` bases. Else every window is read through pyfaidx.
        in_memory_max_bp: genome size limit of the automatic ``in_memory`` choice.
        cache_dir: cache folder for decompressed FASTA and indexes (default: genoattn's cache).
        predict_fasta: FASTA tiled by the predict dataloader (default: ``fasta``, all contigs).
        pin_memory: pin batches in page-locked memory (faster copies to a GPU).
        genomes: several genomes instead of ``fasta``/``annotation``: a list of
            :class:`~genoattn.data.genome_set.GenomeSpec` mappings ``{name, fasta, annotation, weight,
            feature_types, role, genetic_code}``. The split options apply to each genome on its own; ``weight`` sets
            each genome's share of the random training windows (``train_windows_per_epoch``, needed); val/test
            metrics are logged per genome (``val/<name>/auroc``) beside the pooled ones.
    """

    def __init__(
        self,
        fasta: str | None = None,
        annotation: str | None = None,
        task: Task = "token_classification",
        feature_types: Sequence[str] = ("CDS",),
        label_mode: Literal["binary", "strand", "frame"] = "binary",
        min_overlap: float = 0.5,
        score_column: int | str = 4,
        window: int = 4096,
        stride: int | None = None,
        train_windows_per_epoch: int | None = None,
        jitter: int | None = None,
        max_n_fraction: float = 0.1,
        short_contigs: Literal["skip", "pad"] = "skip",
        test_contigs: list[str] | None = None,
        val_contigs: list[str] | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        holdout_every: int | None = None,
        split_seed: int = 0,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        eval_context: int = 0,
        num_workers: int = 0,
        rc_augment: bool = False,
        shift_augment: int = 0,
        composition_augment: float = 0.0,
        composition_strength: float = 2.0,
        tokenizer: Literal["nucleotide", "kmer"] = "nucleotide",
        k: int = 3,
        uppercase: bool = True,
        mlm_probability: float = 0.15,
        seed: int = 0,
        in_memory: bool | None = None,
        in_memory_max_bp: int = 500_000_000,
        cache_dir: str | None = None,
        predict_fasta: str | None = None,
        pin_memory: bool = False,
        genomes: list[GenomeSpec] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.fasta, self.annotation, self.task = fasta, annotation, task
        self.feature_types = list(feature_types)
        self.label_mode, self.min_overlap, self.score_column = label_mode, min_overlap, score_column
        self.window, self.stride = window, stride
        self.train_windows_per_epoch, self.jitter = train_windows_per_epoch, jitter
        self.max_n_fraction, self.short_contigs = max_n_fraction, short_contigs
        self.test_contigs, self.val_contigs = test_contigs, val_contigs
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.holdout_every, self.split_seed = holdout_every, split_seed
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.eval_context = eval_context
        self.num_workers, self.rc_augment, self.shift_augment = num_workers, rc_augment, shift_augment
        self.composition_augment, self.composition_strength = composition_augment, composition_strength
        self.uppercase, self.mlm_probability, self.seed = uppercase, mlm_probability, seed
        self.in_memory, self.in_memory_max_bp, self.cache_dir = in_memory, in_memory_max_bp, cache_dir
        self.predict_fasta, self.pin_memory = predict_fasta, pin_memory
        self.genome_specs = self._genome_specs(genomes)
        self._check_arguments()
        self.tokenizer = build_tokenizer(tokenizer, k)
        self._built = False
        self._predict_built = False

    # ------------------------------------------------------------------------------ arguments

    def _check_arguments(self) -> None:
        def need(ok: bool, arg: str, msg: str) -> None:
            if not ok:
                raise ConfigError(f"{arg}: {msg}")

        need(self.task in TASKS, "task", f"expected one of {TASKS}, got {self.task!r}")
        for spec in self.genome_specs:
            need(self.task == "mlm" or spec.annotation is not None, "annotation",
                 f"task {self.task!r} needs an annotation file (only 'mlm' works without one)"
                 + (f"; genome {spec.name!r} has none" if self.is_joined else ""))
        need(not self.is_joined or self.train_windows_per_epoch is not None, "genomes",
             "several genomes need train_windows_per_epoch (random training windows, drawn by genome weight)")
        need(self.label_mode in LABEL_CLASSES, "label_mode", f"expected one of {sorted(LABEL_CLASSES)}, "
             f"got {self.label_mode!r}")
        need(isinstance(self.window, int) and self.window >= 1, "window", f"expected a positive integer, "
             f"got {self.window!r}")
        need(self.stride is None or (isinstance(self.stride, int) and self.stride >= 1), "stride",
             f"expected a positive integer or None, got {self.stride!r}")
        need(self.train_windows_per_epoch is None or self.train_windows_per_epoch >= 1, "train_windows_per_epoch",
             f"expected a positive integer or None, got {self.train_windows_per_epoch!r}")
        need(self.jitter is None or self.jitter >= 0, "jitter", f"expected >= 0, got {self.jitter!r}")
        need(0.0 <= self.max_n_fraction <= 1.0, "max_n_fraction", f"expected a value in [0, 1], "
             f"got {self.max_n_fraction}")
        need(0.0 < self.min_overlap <= 1.0, "min_overlap", f"expected a value in (0, 1], got {self.min_overlap}")
        need(0.0 < self.mlm_probability < 1.0, "mlm_probability", f"expected a value in (0, 1), "
             f"got {self.mlm_probability}")
        need(self.short_contigs in ("skip", "pad"), "short_contigs", f"expected 'skip' or 'pad', "
             f"got {self.short_contigs!r}")
        need(self.batch_size >= 1, "batch_size", f"expected >= 1, got {self.batch_size}")
        need(self.eval_batch_size >= 1, "eval_batch_size", f"expected >= 1, got {self.eval_batch_size}")
        need(self.num_workers >= 0, "num_workers", f"expected >= 0, got {self.num_workers}")
        need(0 <= self.eval_context and 2 * self.eval_context < self.window, "eval_context",
             f"expected 0 <= eval_context < window / 2 = {self.window / 2}, got {self.eval_context}")
        need(not (self.eval_context and self.task != "token_classification"), "eval_context",
             "only per-nucleotide (token_classification) evaluation keeps central parts")
        need(self.shift_augment >= 0, "shift_augment", f"expected >= 0, got {self.shift_augment}")
        need(0.0 <= self.composition_augment <= 1.0, "composition_augment",
             f"expected a fraction in [0, 1], got {self.composition_augment}")
        need(not self.composition_augment or self.task == "token_classification", "composition_augment",
             "needs per-nucleotide annotation labels (task token_classification)")
        need(not (self.test_contigs is not None and self.holdout_every is not None), "holdout_every",
             "give either test_contigs or holdout_every, not both")
        for arg in ("val_fraction", "test_fraction"):
            value = getattr(self, arg)
            need(0.0 <= value < 1.0, arg, f"expected a fraction in [0, 1), got {value}")
        if self.hparams["tokenizer"] == "kmer":
            k = self.hparams["k"]
            need(isinstance(k, int) and 1 <= k <= 8, "k", f"expected an integer in [1, 8], got {k!r}")
            need(self.window % k == 0, "window", f"must be a multiple of k={k} with the k-mer tokenizer, "
                 f"got {self.window}")

    def _genome_specs(self, genomes: Sequence[GenomeSpec | dict] | None) -> list[GenomeSpec]:
        """The genomes to read: ``genomes`` (mappings become GenomeSpec) or the one-genome form's fasta."""
        if genomes is None:
            if not self.fasta:
                raise ConfigError("fasta: give a FASTA file (or a list of genomes)")
            return [GenomeSpec(default_genome_name(str(self.fasta)), str(self.fasta), self.annotation)]
        if self.fasta is not None or self.annotation is not None:
            raise ConfigError("genomes: give either fasta/annotation or genomes, not both")
        try:
            specs = [g if isinstance(g, GenomeSpec) else GenomeSpec(**g) for g in genomes]
        except TypeError as exc:
            raise ConfigError(f"genomes: each genome is a mapping of {{name, fasta, annotation, weight, "
                              f"feature_types, role, genetic_code}} ({exc})") from exc
        check_genome_specs(specs)
        return specs

    # ------------------------------------------------------------------------------ properties

    @property
    def is_joined(self) -> bool:
        """Several genomes (contigs named ``"<genome>:<contig>"``, metrics per genome)."""
        return len(self.genome_specs) > 1

    @property
    def genome_names(self) -> list[str]:
        """Names of the genomes, in order (``batch["genome"]`` indexes this list)."""
        return [spec.name for spec in self.genome_specs]

    @property
    def vocab_size(self) -> int:
        """Number of token ids of the tokenizer (9 for nucleotides, 5 + 4**k for k-mers)."""
        return self.tokenizer.vocab_size

    @property
    def num_classes(self) -> int:
        """Output classes of the task: 2/3/7 per label_mode, 2 for sequence classification, 1 for
        regression, ``vocab_size`` for mlm."""
        if self.task == "token_classification":
            return LABEL_CLASSES[self.label_mode]
        return {"sequence_classification": 2, "regression": 1, "mlm": self.vocab_size}[self.task]

    @property
    def tokens_per_window(self) -> int:
        """Sequence length the model sees: ``window // k``."""
        return self.window // self.tokenizer.k

    # ------------------------------------------------------------------------------ set-up

    def setup(self, stage: str | None = None) -> None:
        """Build genome access, splits, windows and labels (once); the predict source on demand."""
        if not self._built:
            self._build()
        if stage == "predict" and not self._predict_built:
            self._build_predict()

    def _open(self, path: str) -> tuple[Genome, InMemorySequences | FastaSequences, NContent, bool]:
        genome = Genome(path, uppercase=self.uppercase, cache_dir=self.cache_dir)
        lengths = genome.contigs
        in_memory = self.in_memory if self.in_memory is not None else genome.total_length <= self.in_memory_max_bp
        if in_memory:
            ids = {c: encode_nucleotides(genome.fetch(c, 0, n)) for c, n in lengths.items()}
            return genome, InMemorySequences(ids), NContent.from_ids(ids), True
        runs = {c: _streamed_n_runs(genome, c, n) for c, n in lengths.items()}
        return genome, FastaSequences(genome, list(lengths)), NContent(list(lengths), runs), False

    def _intervals(self, spec: GenomeSpec, lengths: dict[str, int]) -> list[Interval] | None:
        """The checked annotation intervals of one genome (None for mlm or no annotation)."""
        if spec.annotation is None or self.task == "mlm":
            return None
        feature_types = self.feature_types if spec.feature_types is None else list(spec.feature_types)
        if self.task == "regression":
            intervals = read_scores(spec.annotation, self.score_column)
        else:
            intervals = read_annotation(spec.annotation, feature_types or None)
        intervals = check_intervals(intervals, lengths, spec.annotation)
        if not intervals:
            raise InputError(f"{spec.annotation}: no intervals of feature types {feature_types} on the "
                             f"FASTA's contigs")
        return intervals

    @staticmethod
    def _label_source(index: IntervalIndex, lengths: dict[str, int], mode: LabelMode,
                      in_memory: bool) -> ArrayLabels | IntervalLabels:
        """Per-nucleotide labels of one genome: whole-contig arrays in memory, else computed per window."""
        if in_memory:
            return ArrayLabels(contig_labels(index, lengths, mode), list(lengths))
        return IntervalLabels(index, mode, list(lengths), np.array(list(lengths.values()), dtype=np.int64))

    def _split(self, spec: GenomeSpec, names: list[str]) -> dict[str, list[str]]:
        """One genome's train/val/test contigs (the split options applied to this genome alone)."""
        if spec.role != "split":
            return {"train": [], "val": [], "test": [], spec.role: list(names)}

        def own(given: list[str] | None) -> list[str] | None:  # joined "<genome>:<contig>" names -> this genome's
            if given is None or not self.is_joined:
                return given
            return [c.split(":", 1)[1] for c in given if c.split(":", 1)[0] == spec.name]

        return split_contigs(
            names, test_contigs=own(self.test_contigs), val_contigs=own(self.val_contigs),
            val_fraction=self.val_fraction, test_fraction=self.test_fraction, holdout_every=self.holdout_every,
            seed=self.split_seed)

    def _check_joined_contig_args(self) -> None:
        """With several genomes, test_contigs/val_contigs must name genomes of the list."""
        known = set(self.genome_names)
        for arg in ("test_contigs", "val_contigs"):
            bad = [c for c in getattr(self, arg) or [] if c.split(":", 1)[0] not in known or ":" not in c]
            if bad:
                raise ConfigError(f"{arg}: with several genomes, name contigs as '<genome>:<contig>' of the "
                                  f"genomes {sorted(known)}; got {', '.join(bad[:5])}")

    def _build(self) -> None:
        if self.is_joined:
            self._check_joined_contig_args()
        parts: list[_OpenedGenome] = []
        for spec in self.genome_specs:
            genome, sequences, n_content, in_memory = self._open(spec.fasta)
            lengths = genome.contigs
            intervals = self._intervals(spec, lengths)
            index = IntervalIndex(intervals) if intervals is not None else None
            labels = frames = None
            if self.task == "token_classification":
                assert index is not None  # _check_arguments: the task needs every genome's annotation
                labels = self._label_source(index, lengths, self.label_mode, in_memory)
                if self.composition_augment:  # only with token_classification (_check_arguments)
                    frames = labels if self.label_mode == "frame" else self._label_source(index, lengths, "frame",
                                                                                          in_memory)
            parts.append(_OpenedGenome(genome, sequences, n_content, in_memory, intervals, index, labels, frames,
                                       self._split(spec, list(lengths))))

        self.genome: Genome | None  # None with several genomes
        self.sequences: InMemorySequences | FastaSequences | JoinedSources
        self.nucleotide_label_source: ArrayLabels | IntervalLabels | JoinedSources | None
        self.frame_label_source: ArrayLabels | IntervalLabels | JoinedSources | None
        self.interval_index: IntervalIndex | None
        if not self.is_joined:
            only = parts[0]
            self.genome, self.sequences, self.n_content, self.is_in_memory = (
                only.genome, only.sequences, only.n_content, only.in_memory)
            self.contig_lengths = only.genome.contigs
            self.contig_genome = np.zeros(len(self.contig_lengths), dtype=np.int64)
            self.nucleotide_label_source, self.interval_index, splits = only.labels, only.interval_index, only.splits
            self.frame_label_source = only.frames
        else:
            renamed = [{c: joined_name(spec.name, c) for c in part.genome.contigs}
                       for spec, part in zip(self.genome_specs, parts)]
            joined = [name for names in renamed for name in names.values()]
            self.genome = None
            self.contig_lengths = {renamed[g][c]: n for g, part in enumerate(parts)
                                   for c, n in part.genome.contigs.items()}
            self.contig_genome = np.repeat(np.arange(len(parts)), [len(r) for r in renamed])  # [contigs] genome
            self.sequences = JoinedSources([part.sequences for part in parts], joined)
            self.n_content = NContent.joined([part.n_content for part in parts], joined)
            self.is_in_memory = all(part.in_memory for part in parts)
            self.interval_index = None
            part_intervals = [part.intervals for part in parts if part.intervals is not None]
            if len(part_intervals) == len(parts):
                self.interval_index = IntervalIndex(dataclasses.replace(iv, contig=renamed[g][iv.contig])
                                                    for g, ivs in enumerate(part_intervals) for iv in ivs)
            self.nucleotide_label_source = (JoinedSources(_all_built([part.labels for part in parts]), joined)
                                            if self.task == "token_classification" else None)
            self.frame_label_source = (JoinedSources(_all_built([part.frames for part in parts]), joined)
                                       if self.composition_augment else None)
            splits = {split: [renamed[g][c] for g, part in enumerate(parts) for c in part.splits[split]]
                      for split in SPLITS}
        self.splits = splits
        lengths = self.contig_lengths
        self.windows: dict[str, Windows] = {}
        for split in SPLITS:
            stride = self.window - 2 * self.eval_context if split != "train" and self.eval_context else self.stride
            tiles = tile_windows(lengths, self.window, stride, contigs=self.splits[split], short_contigs="pad")
            if self.short_contigs == "skip":
                tiles = tiles.select(self.sequences.lengths[tiles.contig_index] >= self.window)
            self.windows[split] = filter_n(tiles, self.n_content, self.max_n_fraction)
        short = [c for c, n in lengths.items() if n < self.window]
        if short and self.short_contigs == "skip":
            per_split = ", ".join(f"{sum(c in set(self.splits[s]) for c in short)} {s}" for s in SPLITS)
            warnings.warn(f"{self.source}: skipped {len(short)} contigs shorter than the window ({self.window} bp; "
                          f"{per_split}): {', '.join(short[:5])}{' ...' if len(short) > 5 else ''}; "
                          "set short_contigs='pad' to keep them", stacklevel=3)
        if not len(self.windows["train"]):
            raise InputError(f"{self.source}: no training windows of {self.window} bp left (contigs too short or "
                             f"more than max_n_fraction={self.max_n_fraction} N)")
        self._built = True

    @property
    def source(self) -> str:
        """The genome file, or the genomes' names (for messages)."""
        return str(self.fasta) if not self.is_joined else "genomes " + ", ".join(self.genome_names)

    def _build_predict(self) -> None:
        if self.predict_fasta is None:
            self.predict_sequences = self.sequences
            lengths = self.contig_lengths
        else:
            genome, self.predict_sequences, _, _ = self._open(self.predict_fasta)
            lengths = genome.contigs
        self.predict_windows = tile_windows(lengths, self.window, self.stride, short_contigs="pad")
        self._predict_built = True

    # ------------------------------------------------------------------------------ dataloaders

    def _dataset(self, train: bool, task: Task | None = None) -> WindowBatchDataset:
        return WindowBatchDataset(
            self.sequences, self.tokenizer, self.window, self.task if task is None else task,
            nucleotide_label_source=self.nucleotide_label_source, interval_index=self.interval_index,
            label_mode=self.label_mode, min_overlap=self.min_overlap, mlm_probability=self.mlm_probability,
            rc_augment=train and self.rc_augment, shift_augment=self.shift_augment if train else 0,
            compact=self._compact, eval_context=0 if train else self.eval_context,
            contig_genome=self.contig_genome if self.is_joined else None,
            frame_label_source=self.frame_label_source if train else None,
            composition_augment=self.composition_augment if train else 0.0,
            composition_strength=self.composition_strength,
            genetic_code=np.array([spec.genetic_code for spec in self.genome_specs])[self.contig_genome])

    @property
    def _compact(self) -> bool:
        """Send 1-2 byte ids out of worker processes (widened to int64 by BatchLoader); not with pin_memory,
        whose pinned buffers the widening would replace."""
        return self.num_workers > 0 and not self.pin_memory

    def _loader(self, dataset: WindowBatchDataset, sampler: BatchWindowsSampler) -> DataLoader:
        workers = self.num_workers
        return BatchLoader(dataset, batch_size=None, sampler=sampler, num_workers=workers,
                           persistent_workers=workers > 0, pin_memory=self.pin_memory,
                           prefetch_factor=4 if workers > 0 else None)

    def train_sampler(self) -> BatchWindowsSampler:
        """The training batch sampler (shuffled; random jittered windows when configured)."""
        self.setup("fit")
        base = self.windows["train"]
        # Full batches only, unless there are fewer windows than one batch.
        if self.train_windows_per_epoch is None:
            return BatchWindowsSampler(base, self.batch_size, shuffle=True, drop_last=len(base) >= self.batch_size,
                                    seed=self.seed)
        jitter = self.jitter if self.jitter is not None else (self.stride or self.window)
        weights = [spec.weight for spec in self.genome_specs]
        p = window_probabilities(self.contig_genome[base.contig_index], weights) if self.is_joined else None
        resample = functools.partial(random_windows, base, self.contig_lengths, self.train_windows_per_epoch,
                                     jitter, n_content=self.n_content, max_n_fraction=self.max_n_fraction, p=p)
        drop_last = self.train_windows_per_epoch >= self.batch_size
        return BatchWindowsSampler(None, self.batch_size, shuffle=False, drop_last=drop_last, seed=self.seed,
                                resample=resample, num_windows=self.train_windows_per_epoch)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self._dataset(train=True), self.train_sampler())

    def _eval_loader(self, split: str) -> DataLoader | list:
        self.setup("fit")
        windows = self.windows[split]
        if not len(windows):
            return []  # no contigs in this split: Lightning skips the loop
        sampler = BatchWindowsSampler(windows, self.eval_batch_size, seed=self.seed + 1, fixed_epoch=True)
        return self._loader(self._dataset(train=False), sampler)

    def val_dataloader(self) -> DataLoader | list:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader | list:
        return self._eval_loader("test")

    def predict_dataloader(self) -> DataLoader:
        """Tiles every contig of ``predict_fasta`` (or ``fasta``), short contigs padded; no labels."""
        self.setup("predict")
        dataset = WindowBatchDataset(self.predict_sequences, self.tokenizer, self.window, None, compact=self._compact)
        sampler = BatchWindowsSampler(self.predict_windows, self.eval_batch_size, seed=self.seed, fixed_epoch=True)
        return self._loader(dataset, sampler)

    # ------------------------------------------------------------------------------ summary

    def stats(self) -> dict[str, Any]:
        """Numbers behind :meth:`describe`: contigs, bases and windows per split, label balance."""
        self.setup("fit")
        out: dict[str, Any] = {
            "fasta": self.source, "genomes": self.genome_names, "contigs": len(self.contig_lengths),
            "bases": int(sum(self.contig_lengths.values())), "in_memory": self.is_in_memory,
            "task": self.task, "tokenizer": self.tokenizer.name, "vocab_size": self.vocab_size,
            "num_classes": self.num_classes, "window": self.window, "splits": {},
        }
        for split in SPLITS:
            contigs = self.splits[split]
            windows = self.windows[split]
            entry: dict[str, Any] = {
                "contigs": len(contigs), "bases": int(sum(self.contig_lengths[c] for c in contigs)),
                "windows": len(windows), "window_bases": windows.nucleotides()}
            if split == "train" and self.train_windows_per_epoch is not None:
                entry["windows_per_epoch"] = self.train_windows_per_epoch
            entry["labels"] = self._label_balance(contigs, windows)
            out["splits"][split] = entry
        return out

    def _label_balance(self, contigs: list[str], windows: Windows) -> dict[str, float] | None:
        if self.task == "token_classification":
            assert self.interval_index is not None  # every genome has its annotation (_check_arguments)
            counts = np.zeros(self.num_classes, dtype=np.int64)
            ignored = 0
            for c in contigs:
                labels = nucleotide_labels(self.interval_index, c, 0, self.contig_lengths[c], self.label_mode)
                counts += np.bincount(labels[labels >= 0], minlength=self.num_classes)
                ignored += int((labels == vocab.IGNORE_INDEX).sum())
            total = max(int(counts.sum()), 1)
            balance = {f"class_{i}": float(n / total) for i, n in enumerate(counts)}
            return {**balance, "ignored_bases": ignored}
        if self.task in ("sequence_classification", "regression") and len(windows):
            assert self.interval_index is not None  # every genome has its annotation (_check_arguments)
            parts = []
            for ci in np.unique(windows.contig_index):
                name, starts = windows.contig_names[ci], windows.start[windows.contig_index == ci]
                if self.task == "regression":
                    parts.append(window_scores(self.interval_index, name, starts, self.window))
                else:
                    parts.append(window_overlap_labels(self.interval_index, name, starts, self.window,
                                                       self.min_overlap))
            values = np.concatenate(parts)
            if self.task == "regression":
                return {"mean": float(values.mean()), "std": float(values.std())}
            return {"class_1": float(values.mean())}
        return None

    def describe(self) -> str:
        """A short human-readable summary: genome, task, windows per split and label balance."""
        s = self.stats()
        lines = [f"genome {s['fasta']}: {s['contigs']} contigs, {s['bases']:,} bp "
                 f"({'in memory' if s['in_memory'] else 'read per window'})",
                 f"task {s['task']}, {s['num_classes']} classes, tokenizer {s['tokenizer']} "
                 f"(vocab {s['vocab_size']}), window {s['window']} bp"]
        for split, e in s["splits"].items():
            per_epoch = f", {e['windows_per_epoch']} random per epoch" if "windows_per_epoch" in e else ""
            labels = ""
            if e["labels"]:
                labels = ", labels " + " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                                for k, v in e["labels"].items())
            lines.append(f"  {split:<5} {e['contigs']:>4} contigs {e['bases']:>12,} bp  {e['windows']:>7,} windows"
                         f"{per_epoch}{labels}")
        return "\n".join(lines)


def _streamed_n_runs(genome: Genome, contig: str, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Runs of N of one contig, read in chunks (for genomes not held in memory)."""
    starts, ends = [], []
    for offset in range(0, length, _FETCH_CHUNK):
        s, e = n_runs(encode_nucleotides(genome.fetch(contig, offset, min(offset + _FETCH_CHUNK, length))))
        starts.append(s + offset)
        ends.append(e + offset)
    s, e = np.concatenate(starts or [np.zeros(0, np.int64)]), np.concatenate(ends or [np.zeros(0, np.int64)])
    if len(s) > 1:  # merge runs split at a chunk boundary
        keep = np.concatenate([[True], s[1:] != e[:-1]])
        e = np.concatenate([e[np.flatnonzero(keep)[1:] - 1], e[-1:]])
        s = s[keep]
    return s, e

