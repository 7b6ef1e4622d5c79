"""Scoring per-nucleotide predictions against an annotation: read a track back (predict's bigWig or bedGraph, or
any other), AUROC/AUPRC per contig.

Bases without a track value (N runs) and bases whose label is ignored (conflicting overlaps) are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from genoattn.data.labels import IntervalIndex, nucleotide_labels
from genoattn.data.vocab import IGNORE_INDEX
from genoattn.errors import InputError
from genoattn.inference.tracks import IntervalCaller

BIGWIG_SUFFIXES = (".bw", ".bigwig")  # read as bigWig (lower-cased suffix); anything else as bedGraph


def read_bedgraph(path: str | Path, lengths: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Per-contig float32 arrays [length] (NaN where the bedGraph gives no value); other contigs are skipped.
    A malformed line raises InputError naming the file and line."""
    tracks = {c: np.full(n, np.nan, dtype=np.float32) for c, n in lengths.items()}
    with open(path) as fh:
        for number, line in enumerate(fh, 1):
            if line.startswith(("track", "browser", "#")) or not line.strip():
                continue
            cols = line.split()
            if len(cols) < 4:
                raise InputError(f"{path}:{number}: expected 4 bedGraph columns (contig, start, end, value)")
            if cols[0] in tracks:
                try:
                    tracks[cols[0]][int(cols[1]) : int(cols[2])] = float(cols[3])
                except ValueError:
                    raise InputError(f"{path}:{number}: start and end must be integers, value a number") from None
    return tracks


def read_bigwig(path: str | Path, lengths: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Per-contig float32 arrays of a bigWig (NaN where it has no value); contigs it lacks are all NaN."""
    import pyBigWig

    try:
        bw = pyBigWig.open(str(path))
    except RuntimeError:
        bw = None
    if bw is None or not bw.isBigWig():
        raise InputError(f"{path}: not a readable bigWig file")
    with bw:
        chroms = bw.chroms()
        tracks = {}
        for contig, n in lengths.items():
            if contig not in chroms:
                tracks[contig] = np.full(n, np.nan, dtype=np.float32)
                continue
            end = min(n, chroms[contig])
            values = np.full(n, np.nan, dtype=np.float32)
            if end > 0:
                values[:end] = np.asarray(bw.values(contig, 0, end, numpy=True), dtype=np.float32)
            tracks[contig] = values
    return tracks


def read_track(path: str | Path, lengths: Mapping[str, int]) -> dict[str, np.ndarray]:
    """bedGraph or bigWig (by extension) -> per-contig float32 arrays over ``lengths`` (NaN: no value)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: track file not found")
    return read_bigwig(p, lengths) if p.suffix.lower() in BIGWIG_SUFFIXES else read_bedgraph(p, lengths)


def scored_bases(track: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores) of the bases that have both a value and a label that counts."""
    keep = (labels != IGNORE_INDEX) & ~np.isnan(track)
    return labels[keep], track[keep]


def binary_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """AUROC, AUPRC (NaN when only one class is present), bases scored and the positive fraction."""
    both = len(np.unique(labels)) == 2
    return {
        "auroc": float(roc_auc_score(labels, scores)) if both else float("nan"),
        "auprc": float(average_precision_score(labels, scores)) if both else float("nan"),
        "bases": int(len(labels)),
        "positive_fraction": float(labels.mean()) if len(labels) else float("nan"),
    }


def track_metrics(tracks: Mapping[str, np.ndarray], index: IntervalIndex) -> tuple[dict[str, float], list[dict]]:
    """Binary metrics of positive-class tracks (coding vs not, ``index`` the positive intervals): over all the
    contigs of ``tracks`` together, and one dict per contig (with its ``contig`` name and ``length``)."""
    per_contig, all_labels, all_scores = [], [], []
    for contig, track in tracks.items():
        labels, scores = scored_bases(track, nucleotide_labels(index, contig, 0, len(track), "binary"))
        per_contig.append({"contig": contig, "length": len(track), **binary_metrics(labels, scores)})
        all_labels.append(labels)
        all_scores.append(scores)
    overall = binary_metrics(np.concatenate(all_labels or [np.zeros(0)]), np.concatenate(all_scores or [np.zeros(0)]))
    return {**overall, "contigs": len(per_contig)}, per_contig


def called_intervals(values: np.ndarray, start: int = 0, threshold: float = 0.5, merge_gap: int = 0,
                     min_length: int = 1) -> list[tuple[int, int]]:
    """(start, end) of the intervals ``genoattn.predict`` would call on one region's scores (float [n], NaN where
    masked; ``start``: the region's first base), as its BED file lists them."""
    caller = IntervalCaller(threshold, merge_gap, min_length)
    masked = np.isnan(values)
    parts = [caller.add(start, values, masked), caller.finish()]
    return [(int(b), int(e)) for begin, end, _ in parts for b, e in zip(begin, end)]
