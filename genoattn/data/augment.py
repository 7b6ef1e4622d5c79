"""Augmentations that keep labels aligned with the sequence.

- Reverse complement (:func:`reverse_complement_rows`): the nucleotide ids of the chosen rows are
  reversed and complemented; per-nucleotide labels are reversed and their strand classes swapped
  (:func:`genoattn.data.labels.reverse_complement_labels`). Window-level labels do not change.
- Shift (:func:`shift_starts`): window starts move by a random number of bases before the
  sequence and the labels are read, so both come from the same coordinates.
- Composition (:func:`shift_composition`): a window gets another codon usage and GC content without
  changing its labels: every codon of an annotated CDS is redrawn among its synonyms (same amino acid, so no
  stop codon appears or disappears), favouring GC- or AT-rich synonyms by a random strength per window, and
  non-coding bases are mutated towards G/C or A/T by the same strength. Against models that learn one
  genome's composition instead of gene structure.
"""

from __future__ import annotations

import functools

import numpy as np

from genoattn.data import vocab
from genoattn.data.labels import LabelMode, reverse_complement_labels
from genoattn.data.tokenizers import NucleotideTokenizer

_NT = NucleotideTokenizer()
_BASES = "ACGT"
_BASE_INDEX = np.full(256, 4, dtype=np.int64)  # nucleotide id -> A/C/G/T index 0..3, else 4
_BASE_INDEX[[vocab.A, vocab.C, vocab.G, vocab.T]] = np.arange(4)
_BASE_ID = np.array([vocab.A, vocab.C, vocab.G, vocab.T], dtype=np.uint8)  # index -> id


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


@functools.cache
def synonym_table(table_id: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Synonyms of each codon code (16 b0 + 4 b1 + b2, A/C/G/T = 0..3) under an NCBI genetic code.

    Returns (synonyms int64 [64, 6], codes padded with -1; a stop codon's synonyms are the stop codons) and
    (gc int64 [64], G+C bases per codon)."""
    from Bio.Data import CodonTable

    table = CodonTable.unambiguous_dna_by_id[table_id]
    meaning = {c: table.forward_table.get(c, "*") for c in (a + b + c for a in _BASES for b in _BASES for c in _BASES)}
    codes = {c: 16 * _BASES.index(c[0]) + 4 * _BASES.index(c[1]) + _BASES.index(c[2]) for c in meaning}
    synonyms = np.full((64, 6), -1, dtype=np.int64)
    for codon, amino in meaning.items():
        same = [codes[c] for c, a in meaning.items() if a == amino]
        synonyms[codes[codon], : len(same)] = same
    gc = np.array([sum(b in "GC" for b in c) for c in sorted(codes, key=codes.__getitem__)], dtype=np.int64)
    return synonyms, gc


def _codon_starts(frames: np.ndarray, base: np.ndarray, first: int, second: int, third: int) -> tuple[np.ndarray, ...]:
    """(row, start) of the codons whose three bases carry frame labels (first, second, third) and are ACGT."""
    ok = (frames[:, :-2] == first) & (frames[:, 1:-1] == second) & (frames[:, 2:] == third)
    ok &= (base[:, :-2] < 4) & (base[:, 1:-1] < 4) & (base[:, 2:] < 4)
    return np.nonzero(ok)


def shift_composition(nt_ids: np.ndarray, frames: np.ndarray, strength: np.ndarray, rng: np.random.Generator,
                      mutation_rate: float = 0.3, genetic_code: np.ndarray | int = 11) -> np.ndarray:
    """Give rows another composition, labels unchanged (module docstring).

    nt_ids: uint8 [B, L] nucleotide ids; frames: int8 [B, L] ``frame`` labels (0 non-coding, 1-3 plus-strand
    codon positions, 4-6 minus-strand, IGNORE_INDEX ambiguous); strength: float [B], > 0 favours G/C, < 0 A/T,
    0 leaves the row as it is. Synonyms are drawn with weights ``exp(strength * GC count)``; a non-coding
    A/T (G/C) base becomes a random G/C (A/T) base with probability ``mutation_rate * |tanh(strength)|``.
    genetic_code: NCBI table of every row (int [B]) or of all rows. Returns a new uint8 [B, L] array."""
    codes, row_table = np.unique(np.broadcast_to(genetic_code, strength.shape), return_inverse=True)  # [K], [B]
    synonyms = np.stack([synonym_table(int(c))[0] for c in codes])  # [K, 64, 6]
    gc = synonym_table(int(codes[0]))[1]  # [64], the same under every code
    base = _BASE_INDEX[nt_ids]  # [B, L] 0..3, 4 = not ACGT
    out = base.copy()
    for first, third, minus in ((1, 3, False), (6, 4, True)):  # a minus codon reads 6, 5, 4 left to right
        rows, starts = _codon_starts(frames, base, first, 5 if minus else 2, third)  # [n] each
        triplet = base[rows[:, None], starts[:, None] + np.arange(3)]  # [n, 3] as read on the plus strand
        if minus:
            triplet = 3 - triplet[:, ::-1]  # the codon, read on the minus strand
        code = triplet @ np.array([16, 4, 1])  # [n]
        options = synonyms[row_table[rows], code]  # [n, 6]
        score = strength[rows, None] * gc[np.maximum(options, 0)] + rng.gumbel(size=options.shape)  # [n, 6]
        chosen = options[np.arange(len(code)), np.where(options >= 0, score, -np.inf).argmax(-1)]  # [n]
        new = np.stack([chosen // 16, chosen // 4 % 4, chosen % 4], axis=-1)  # [n, 3]
        if minus:
            new = 3 - new[:, ::-1]
        out[rows[:, None], starts[:, None] + np.arange(3)] = new
    probability = mutation_rate * np.abs(np.tanh(strength))[:, None]  # [B, 1]
    towards_gc = (strength > 0)[:, None]  # [B, 1]
    source = np.where(towards_gc, (base == 0) | (base == 3), (base == 1) | (base == 2))  # A/T, or G/C, bases
    mutate = (frames == 0) & source & (rng.random(base.shape) < probability)  # [B, L]
    replacement = np.where(towards_gc, 1, 0) + np.where(towards_gc, 1, 3) * rng.integers(0, 2, base.shape)
    out = np.where(mutate, replacement, out)  # G/C = 1/2, A/T = 0/3
    return np.where(base < 4, _BASE_ID[np.minimum(out, 3)], nt_ids).astype(np.uint8)
