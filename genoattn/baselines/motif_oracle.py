"""A scanning oracle for the motif-pair task: it is told the motifs, the band and the label rule, not the labels.

Each window is scanned with both matrices on both strands (:func:`genoattn.data.motifs.scan`); the two best
non-overlapping hits, by log-odds as a fraction of each motif's best possible score, are taken as the two sites
and the label rule (:func:`genoattn.data.motif_pairs.pair_labels`) is applied to their motifs, strands and
distance. Near-perfect test AUROC shows that the labels follow from the sequence; the k-mer baseline
(:mod:`genoattn.baselines.kmer_logreg`) shows that no composition shortcut does.
"""

from __future__ import annotations

import numpy as np

from genoattn.baselines.kmer_logreg import window_batches
from genoattn.data.motif_pairs import MotifPairWindows, pair_labels, pair_metrics
from genoattn.data.motifs import Motif, scan


def best_sites(ids: np.ndarray, motifs: tuple[Motif, Motif]) -> dict[str, np.ndarray]:
    """The two best non-overlapping motif hits per window of ids [n, L]: ``motif``, ``strand`` (+1/-1), ``pos``
    and ``score`` (fraction of the motif's best score), each [n, 2], ordered left to right."""
    n, length = ids.shape
    tracks = np.full((n, 2, 2, length), -np.inf, dtype=np.float32)  # [n, motif, strand, start]
    for m, motif in enumerate(motifs):
        best = motif.log_odds().max(axis=1).sum()
        scores = scan(ids, motif) / best  # [n, 2, L - len + 1]
        tracks[:, m, :, :scores.shape[-1]] = scores
    lengths = np.array([motif.length for motif in motifs])
    flat = tracks.reshape(n, -1)
    first = flat.argmax(axis=1)
    m1, s1, p1 = np.unravel_index(first, tracks.shape[1:])
    starts = np.arange(length)
    # A hit of motif m at p overlaps the first one iff p < p1 + len1 and p + len_m > p1.
    overlap = (starts[None, None, :] < (p1 + lengths[m1])[:, None, None]) & \
              (starts[None, None, :] + lengths[None, :, None] > p1[:, None, None])  # [n, motif, start]
    tracks[np.broadcast_to(overlap[:, :, None, :], tracks.shape)] = -np.inf
    second = tracks.reshape(n, -1).argmax(axis=1)
    m2, s2, p2 = np.unravel_index(second, tracks.shape[1:])
    rows = np.arange(n)
    out = {"motif": np.stack([m1, m2], 1), "strand": np.stack([1 - 2 * s1, 1 - 2 * s2], 1),
           "pos": np.stack([p1, p2], 1),
           "score": np.stack([flat[rows, first], tracks.reshape(n, -1)[rows, second]], 1)}
    order = np.argsort(out["pos"], axis=1)
    return {k: np.take_along_axis(v, order, axis=1) for k, v in out.items()}


def oracle_scores(ids: np.ndarray, motifs: tuple[Motif, Motif], band: tuple[int, int]) -> np.ndarray:
    """1.0 where the two best hits satisfy the label rule, else 0.0: float64 [n]."""
    sites = best_sites(ids, motifs)
    distance = sites["pos"][:, 1] - sites["pos"][:, 0]
    return pair_labels(sites["motif"], sites["strand"], distance, band).astype(np.float64)


def evaluate_oracle(test: MotifPairWindows, n: int | None = None) -> dict[str, float]:
    """:func:`pair_metrics` of the oracle on the first ``n`` (default all) windows of a split."""
    band = (test.layout.lo, test.layout.hi)
    parts = [(oracle_scores(b["input_ids"], test.motifs, band), b["labels"], b["kind"])
             for b in window_batches(test, n, batch=16, desc="oracle scan")]
    scores, labels, kind = (np.concatenate(p) for p in zip(*parts))
    return pair_metrics(labels, scores, kind)
