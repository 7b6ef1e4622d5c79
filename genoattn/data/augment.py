"""Augmentations that keep labels aligned with the sequence.

- Reverse complement (:func:`reverse_complement_rows`): the nucleotide ids of the chosen rows are
  reversed and complemented; per-nucleotide labels are reversed and their strand classes swapped
  (:func:`genoattn.data.labels.reverse_complement_labels`). Window-level labels do not change.
- Shift (:func:`shift_starts`): window starts move by a random number of bases before the
  sequence and the labels are read, so both come from the same coordinates.
"""

from __future__ import annotations

import numpy as np

from genoattn.data.labels import LabelMode, reverse_complement_labels
from genoattn.data.tokenizers import NucleotideTokenizer

_NT = NucleotideTokenizer()


def reverse_complement_rows(nt_ids: np.ndarray, labels: np.ndarray | None, rows: np.ndarray,
                            label_mode: LabelMode = "binary") -> tuple[np.ndarray, np.ndarray | None]:
    """Reverse-complement the rows ``rows`` (bool [B]) of nucleotide ids [B, L] and of per-nucleotide
    labels [B, L] (``None`` for window-level tasks); other rows are returned unchanged (copies)."""
    nt_ids = nt_ids.copy()
    if rows.any():
        nt_ids[rows] = _NT.reverse_complement(nt_ids[rows])
    if labels is not None:
        labels = labels.copy()
        if rows.any():
            labels[rows] = reverse_complement_labels(labels[rows], label_mode)
    return nt_ids, labels


def shift_starts(starts: np.ndarray, contig_lengths: np.ndarray, window: int, max_shift: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Move each start by a uniform integer in [-max_shift, max_shift], kept so that the window stays
    inside its contig (``contig_lengths`` [B] per window); windows longer than the contig stay at 0."""
    if max_shift <= 0:
        return starts
    last = np.maximum(contig_lengths - window, 0)  # [B] last start that keeps the window inside
    moved = starts + rng.integers(-max_shift, max_shift + 1, size=starts.shape)
    # A window already running past the end (a padded short contig) keeps its start.
    return np.where(starts > last, starts, np.clip(moved, 0, last))
