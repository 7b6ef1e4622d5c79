"""The longest-open-reading-frame rule: a coding score per nucleotide that needs no training.

Definition. In each of the six reading frames (three codon phases on each strand) the frame's codons are cut
after every stop codon into *open frames*: a run of non-stop codons together with the stop codon that ends it
(so an annotated CDS, which ends with its stop, is one open frame or part of one). A run cut short by the
sequence end is kept with the length it has. A base's score is the length in nucleotides of the longest open
frame covering it, over the six frames; bases of no complete codon in any frame (at most two at each end)
score 0. Codons containing N are not stops; bases other than A/C/G/T (N, IUPAC codes) get no score (NaN), as
genoattn.predict gives them no value. Stop codons come from the NCBI genetic code (11 and 1: TAA, TAG,
TGA; 4: TAA, TAG).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from tqdm import tqdm

from genoattn.data.genome import Genome
from genoattn.data.tokenizers import NucleotideTokenizer, encode_nucleotides
from genoattn.data.vocab import A, N
from genoattn.errors import ConfigError

_TOKENIZER = NucleotideTokenizer()


def stop_codons(genetic_code: int = 11) -> tuple[str, ...]:
    """Stop codons of an NCBI translation table (Biopython's tables)."""
    from Bio.Data.CodonTable import unambiguous_dna_by_id

    if genetic_code not in unambiguous_dna_by_id:
        raise ConfigError(f"genetic_code: no NCBI translation table {genetic_code!r}")
    return tuple(sorted(unambiguous_dna_by_id[genetic_code].stop_codons))


def _stop_mask(ids: np.ndarray, stops: Iterable[str]) -> np.ndarray:
    """bool [L - 2]: the codon starting at each position is a stop (ids: nucleotide ids, N never a stop)."""
    digit = ids.astype(np.int64) - A  # A C G T -> 0..3, N -> 4
    codes = 25 * digit[:-2] + 5 * digit[1:-1] + digit[2:]  # base 5 keeps N apart
    table = np.zeros(125, dtype=bool)
    for codon in stops:
        a, b, c = (int(x) - A for x in encode_nucleotides(codon))
        table[25 * a + 5 * b + c] = True
    return table[codes]


def _forward_frames(ids: np.ndarray, stops: Iterable[str]) -> np.ndarray:
    """int64 [L]: per base, the longest open frame covering it over the three forward frames."""
    length = len(ids)
    best = np.zeros(length, dtype=np.int64)
    if length < 3:
        return best
    is_stop = _stop_mask(ids, stops)
    for phase in range(3):
        stop = is_stop[phase::3]  # [n codons of this frame]
        run = np.cumsum(stop) - stop  # run id: stops before the codon (a stop closes its own run)
        codon_len = 3 * np.bincount(run)[run]  # [n] nucleotides of each codon's open frame
        end = phase + 3 * len(stop)
        best[phase:end] = np.maximum(best[phase:end], np.repeat(codon_len, 3))
    return best


def longest_orf_scores(ids: np.ndarray, genetic_code: int = 11) -> np.ndarray:
    """float32 [L]: the longest-ORF score (module doc) of every base of nucleotide ids [L] (NaN at N)."""
    stops = stop_codons(genetic_code)
    ids = np.asarray(ids, dtype=np.uint8)
    forward = _forward_frames(ids, stops)
    reverse = _forward_frames(_TOKENIZER.reverse_complement(ids), stops)[::-1]
    scores = np.maximum(forward, reverse).astype(np.float32)
    scores[ids == N] = np.nan
    return scores


def genome_orf_scores(genome: Genome, contigs: Iterable[str], genetic_code: int = 11,
                      progress: bool = False) -> dict[str, np.ndarray]:
    """Longest-ORF scores of whole contigs of ``genome``: {contig: float32 [length]}."""
    lengths = genome.contigs
    names = list(contigs)
    return {c: longest_orf_scores(encode_nucleotides(genome.fetch(c, 0, lengths[c])), genetic_code)
            for c in tqdm(names, desc="longest ORF", unit="contig", disable=not progress, leave=False)}
