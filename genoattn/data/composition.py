"""What a genome is made of: contig length summary (N50), GC content along a contig, runs of N.

Works on nucleotide ids (``genoattn.data.tokenizers.encode_nucleotides``; N is any id other than A/C/G/T).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from genoattn.data import vocab
from genoattn.data.windows import n_runs
from genoattn.errors import InputError


def length_summary(lengths: Mapping[str, int]) -> dict[str, int]:
    """Contigs, total bases, shortest, median, longest, N50 (the length of the contig that, with all longer ones,
    first holds half the bases) and L50 (how many contigs that takes)."""
    if not lengths:
        raise InputError("length_summary: no contigs")
    sizes = np.sort(np.fromiter(lengths.values(), dtype=np.int64))[::-1]  # longest first
    cumulative = np.cumsum(sizes)
    l50 = int(np.searchsorted(cumulative, cumulative[-1] / 2)) + 1
    return {"contigs": len(sizes), "bases": int(cumulative[-1]), "min": int(sizes[-1]),
            "median": int(np.median(sizes)), "max": int(sizes[0]), "n50": int(sizes[l50 - 1]), "l50": l50}


def gc_profile(ids: np.ndarray, bin_size: int) -> tuple[np.ndarray, np.ndarray]:
    """GC fraction of the A/C/G/T bases in consecutive bins of ``bin_size`` bases (the last bin may be shorter).

    Returns (bin starts int64 [nb], GC fraction float64 [nb]; NaN for a bin without any A/C/G/T base)."""
    if bin_size < 1:
        raise InputError(f"gc_profile: bin_size must be >= 1, got {bin_size}")
    ids = np.asarray(ids)
    starts = np.arange(0, len(ids), bin_size, dtype=np.int64)
    gc = np.add.reduceat(((ids == vocab.C) | (ids == vocab.G)).astype(np.int64), starts) if len(ids) else starts
    acgt = np.add.reduceat(((ids >= vocab.A) & (ids <= vocab.T)).astype(np.int64), starts) if len(ids) else starts
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(acgt > 0, gc / np.maximum(acgt, 1), np.nan)
    return starts, fraction


def n_run_table(ids_by_contig: Mapping[str, np.ndarray], min_length: int = 1) -> list[tuple[str, int, int]]:
    """(contig, start, end) of every run of N at least ``min_length`` bases long, 0-based half-open."""
    runs = []
    for contig, ids in ids_by_contig.items():
        starts, ends = n_runs(np.asarray(ids))
        runs += [(contig, int(s), int(e)) for s, e in zip(starts, ends) if e - s >= min_length]
    return runs
