"""Transcription-factor motifs for synthetic tasks: JASPAR matrices, site sampling, scanning, shuffled background.

- :func:`read_motifs` reads a JASPAR file with Biopython (``Bio.motifs``) into :class:`Motif` objects (position
  probability matrices with a pseudocount).
- :meth:`Motif.sample` draws site instances column by column from the matrix (so every instance differs).
- :func:`scan` scores every position of a sequence against a motif on both strands (log-odds against a uniform
  background), for tests and the scanning oracle of :mod:`genoattn.baselines.motif_oracle`.
- :func:`dinucleotide_shuffle` shuffles a sequence keeping its dinucleotide counts exactly.

All sequences are nucleotide id arrays of :mod:`genoattn.data.vocab` (A=4, C=5, G=6, T=7, N=8); everything is
vectorised numpy (loops run over motif columns or shuffle rounds, never over bases).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from Bio import motifs as bio_motifs

from genoattn.data import vocab
from genoattn.data.fileio import check_readable_file
from genoattn.data.tokenizers import NucleotideTokenizer
from genoattn.errors import ConfigError, InputError

BASES = "ACGT"
_NT_IDS = np.array([vocab.A, vocab.C, vocab.G, vocab.T], dtype=np.uint8)
_reverse_complement = NucleotideTokenizer().reverse_complement


@dataclass(frozen=True)
class Motif:
    """One position probability matrix: ``probs[j, b]`` = P(base b at column j), bases in ACGT order."""

    matrix_id: str
    name: str
    probs: np.ndarray  # float64 [length, 4], rows sum to 1

    @property
    def length(self) -> int:
        return int(self.probs.shape[0])

    def information(self) -> np.ndarray:
        """Information content per column in bits (2 - entropy) [length]."""
        p = self.probs
        return 2.0 + (p * np.log2(p)).sum(axis=1)

    def log_odds(self) -> np.ndarray:
        """Log2-odds against a uniform background, [length, 4]."""
        return np.log2(self.probs / 0.25)

    def consensus(self) -> str:
        return "".join(BASES[i] for i in self.probs.argmax(axis=1))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` instances drawn from the matrix, one base per column: nucleotide ids uint8 [n, length]."""
        cum = np.cumsum(self.probs, axis=1)  # [length, 4]
        u = rng.random((n, self.length, 1))
        choice = (u >= cum[None, :, :3]).sum(axis=2)  # [n, length] in 0..3
        return _NT_IDS[choice]


def read_motifs(path: str | Path, pseudocount: float = 0.5) -> dict[str, Motif]:
    """Every matrix of a JASPAR-format file, keyed by matrix id (e.g. ``MA0139.2``).

    Probabilities are (count + pseudocount) / (column total + 4 * pseudocount).
    """
    path = check_readable_file(path, "JASPAR motif file")
    try:
        with open(path) as handle:
            records = list(bio_motifs.parse(handle, "jaspar"))
    except (ValueError, KeyError, IndexError) as exc:
        raise InputError(f"{path}: not a readable JASPAR file ({exc})") from None
    if not records:
        raise InputError(f"{path}: no motif matrices found (expected JASPAR format: '>ID NAME' then A/C/G/T rows)")
    out = {}
    for record in records:
        counts = np.array([record.counts[b] for b in BASES], dtype=np.float64).T + pseudocount  # [length, 4]
        if counts.ndim != 2 or not len(counts) or (counts.sum(axis=1) <= 0).any():
            raise InputError(f"{path}: motif {record.matrix_id} has an empty or all-zero column")
        out[record.matrix_id] = Motif(record.matrix_id, record.name, counts / counts.sum(axis=1, keepdims=True))
    return out


def pick_motif(motifs: dict[str, Motif], key: str, source: str | Path = "motifs") -> Motif:
    """A motif by matrix id (``MA0139.2``), id without version (``MA0139``) or unique name (``CTCF``)."""
    if key in motifs:
        return motifs[key]
    hits = [m for m in motifs.values() if m.matrix_id.split(".")[0] == key or m.name.upper() == key.upper()]
    if len(hits) == 1:
        return hits[0]
    known = ", ".join(f"{m.matrix_id} ({m.name})" for m in list(motifs.values())[:8])
    what = "matches several matrices" if hits else "not found"
    raise ConfigError(f"{source}: motif {key!r} {what}; the file holds: {known}")


def scan(ids: np.ndarray, motif: Motif) -> np.ndarray:
    """Log-odds score of every site start on both strands: float32 [..., 2, L - length + 1] for ids [..., L].

    Strand 0: the motif read on the forward strand from that start; strand 1: its reverse complement there (a
    minus-strand site whose forward-strand span starts at the same position). N scores 0 in each column.
    """
    ids = np.asarray(ids)
    length = motif.length
    starts = ids.shape[-1] - length + 1
    if starts < 1:
        raise InputError(f"scan: sequence of {ids.shape[-1]} bases is shorter than motif {motif.matrix_id}")
    table = np.zeros((length, vocab.VOCAB_SIZE, 2), dtype=np.float32)  # [column, base id, strand]
    table[:, vocab.A:vocab.T + 1, 0] = motif.log_odds()
    table[:, vocab.A:vocab.T + 1, 1] = motif.log_odds()[::-1, ::-1]  # reverse-complement matrix
    out = np.zeros((*ids.shape[:-1], starts, 2), dtype=np.float32)
    for j in range(length):  # a loop over motif columns, each one vectorised over positions
        out += table[j][ids[..., j:j + starts]]
    return np.moveaxis(out, -1, -2)


def dinucleotide_shuffle(ids: np.ndarray, rng: np.random.Generator, rounds: int = 2) -> np.ndarray:
    """A random sequence with exactly the dinucleotide counts (and first and last base) of ``ids`` [L].

    One round takes each letter x in random order and permutes the segments that run from one occurrence of x
    to the next: each segment starts with x and is followed by x, so every junction keeps its dinucleotide.
    One round already removes codon periodicity and brings trinucleotide counts to their dinucleotide-Markov
    expectation on the E. coli genome; ``rounds`` (default 2) repeats it.
    """
    out = np.array(ids, copy=True)
    letters = np.unique(out)
    for _ in range(rounds):
        for x in rng.permutation(letters):
            at = np.flatnonzero(out == x)
            if len(at) < 3:
                continue
            lengths = np.diff(at)  # [m - 1] segments [at[i], at[i + 1])
            order = rng.permutation(len(lengths))
            seg_start, seg_len = at[:-1][order], lengths[order]
            new_start = np.cumsum(seg_len) - seg_len
            source = np.repeat(seg_start - new_start, seg_len) + np.arange(seg_len.sum())
            out[at[0]:at[-1]] = out[source]
    return out


def plant(ids: np.ndarray, sites: Sequence[np.ndarray], positions: Sequence[int], strands: Sequence[int]) -> None:
    """Write site instances (forward-strand ids [length]) into ``ids`` in place at ``positions``; strand -1
    writes the reverse complement."""
    for site, pos, strand in zip(sites, positions, strands):
        ids[pos:pos + len(site)] = site if strand > 0 else _reverse_complement(site)
