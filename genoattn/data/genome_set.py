"""Several genomes as one: their specification, contig naming, row-dispatching sources and sampling weights.

``GenomeDataModule(genomes=[...])`` opens each genome on its own, splits each by its own contigs, then
joins them: contig ``c`` of genome ``g`` becomes ``"g:c"`` (:func:`joined_name`), windows of every genome
live in one :class:`~genoattn.data.windows.Windows` table, and :class:`JoinedSources` hands each row of a
batch to the genome it came from. Random training windows are drawn with per-genome weights
(:func:`window_probabilities`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from Bio.Data import CodonTable

from genoattn.errors import ConfigError

ROLES = ("split", "train", "test")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass
class GenomeSpec:
    """One genome of a training set (a YAML mapping under ``data.genomes``).

    Args:
        name: short name (letters, digits, ``_.-``): prefixes its contigs and names its metrics
            (``val/<name>/auroc``).
        fasta: FASTA (plain, gzip, bgzip) or GenBank file.
        annotation: BED / GFF3 / GTF / GenBank annotation (not needed for ``mlm``).
        weight: share of the random training windows drawn from this genome is ``weight / sum(weights)``.
        feature_types: annotation feature types of this genome (default: the data module's ``feature_types``).
        role: ``split`` (its contigs split by the data module's split options), ``train`` (every contig
            trains: e.g. a one-contig genome) or ``test`` (every contig is test data, never trained on nor used
            to pick a checkpoint: a genome held out whole, scored as ``test/<name>/...``).
        genetic_code: NCBI translation table of its CDS (synonymous codons of ``composition_augment``; 4: TGA
            codes for tryptophan).
    """

    name: str
    fasta: str
    annotation: str | None = None
    weight: float = 1.0
    feature_types: list[str] | None = None
    role: Literal["split", "train", "test"] = "split"
    genetic_code: int = 11


def check_genome_specs(specs: Sequence[GenomeSpec]) -> None:
    """Raise ConfigError (one line) on an empty list, bad or repeated names, or weights that are not > 0."""
    if not specs:
        raise ConfigError("genomes: expected at least one genome")
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        if not isinstance(spec.name, str) or not _NAME.match(spec.name):
            raise ConfigError(f"genomes[{i}].name: expected letters, digits and '_.-' (no ':' or '/'), "
                              f"got {spec.name!r}")
        if spec.name in seen:
            raise ConfigError(f"genomes[{i}].name: {spec.name!r} is used twice")
        seen.add(spec.name)
        if not spec.fasta:
            raise ConfigError(f"genomes[{i}].fasta: a FASTA or GenBank file is needed ({spec.name})")
        if spec.genetic_code not in CodonTable.unambiguous_dna_by_id:
            raise ConfigError(f"genomes[{i}].genetic_code: not an NCBI translation table: {spec.genetic_code!r} "
                              f"({spec.name})")
        if spec.role not in ROLES:
            raise ConfigError(f"genomes[{i}].role: expected one of {ROLES}, got {spec.role!r} ({spec.name})")
        if not (isinstance(spec.weight, (int, float)) and spec.weight > 0 and np.isfinite(spec.weight)):
            raise ConfigError(f"genomes[{i}].weight: expected a number > 0, got {spec.weight!r} ({spec.name})")


def default_genome_name(fasta: str) -> str:
    """Name of the one-genome form's genome: the FASTA's file name without its suffixes."""
    name = Path(fasta).name.split(".")[0] or "genome"
    return name if _NAME.match(name) else "genome"


def joined_name(genome: str, contig: str) -> str:
    """Contig name inside a joined genome set: ``"<genome>:<contig>"``."""
    return f"{genome}:{contig}"


class RowSource(Protocol):
    """What JoinedSources joins: InMemorySequences, FastaSequences, ArrayLabels, IntervalLabels."""

    lengths: np.ndarray

    def gather(self, contig_index: np.ndarray, start: np.ndarray, window: int) -> np.ndarray: ...


class JoinedSources:
    """Row sources of several genomes as one: contig ``i`` of the joined list is contig ``local[i]`` of
    ``parts[part[i]]``; ``gather`` reads each row from its own part (same interface as the parts)."""

    def __init__(self, parts: Sequence[RowSource], contig_names: Sequence[str]):
        self.parts = list(parts)
        self.contig_names = tuple(contig_names)
        sizes = [len(p.lengths) for p in self.parts]
        self.part = np.repeat(np.arange(len(self.parts)), sizes)  # [contigs] part of each joined contig
        self.local = np.concatenate([np.arange(n) for n in sizes]).astype(np.int64)  # [contigs]
        self.lengths = np.concatenate([np.asarray(p.lengths, np.int64) for p in self.parts])
        if len(self.lengths) != len(self.contig_names):
            raise ValueError("JoinedSources: one name per contig of the parts expected")

    def gather(self, contig_index: np.ndarray, start: np.ndarray, window: int) -> np.ndarray:
        """[B, window] rows, each read from its genome's source."""
        contig_index, start = np.asarray(contig_index), np.asarray(start)
        part = self.part[contig_index]  # [B]
        out: np.ndarray | None = None
        for p in np.unique(part):
            rows = np.flatnonzero(part == p)
            chunk = self.parts[p].gather(self.local[contig_index[rows]], start[rows], window)  # [b, window]
            if out is None:
                out = np.empty((len(start), window), dtype=chunk.dtype)
            out[rows] = chunk
        return out if out is not None else np.empty((0, window), dtype=np.uint8)


def window_probabilities(genome_of_window: np.ndarray, weights: Sequence[float]) -> np.ndarray | None:
    """Draw probability of each window so that genome ``g`` gets ``weights[g] / sum`` of the draws
    (uniform within a genome); genomes without windows drop out. None when that equals a uniform draw."""
    counts = np.bincount(genome_of_window, minlength=len(weights)).astype(np.float64)  # [genomes]
    w = np.where(counts > 0, np.asarray(weights, np.float64), 0.0)
    if w.sum() <= 0:
        raise ConfigError("genomes: no genome with a weight > 0 has training windows")
    share = w / w.sum()  # [genomes]
    uniform = counts / counts.sum()
    if np.allclose(share, uniform, rtol=1e-9, atol=0):
        return None
    per_window = share / np.maximum(counts, 1)  # [genomes]
    return per_window[genome_of_window]  # [windows], sums to 1
