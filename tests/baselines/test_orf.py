"""The longest-ORF rule against a direct codon-by-codon reading of its definition, and on planted genes."""

from __future__ import annotations

import numpy as np
import pytest

from genoattn.baselines.orf import longest_orf_scores, stop_codons
from genoattn.data.tokenizers import encode_nucleotides
from genoattn.errors import ConfigError

COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def reference(seq: str, stops: tuple[str, ...]) -> np.ndarray:
    """The module doc's definition read literally: walk each frame's codons, close an open frame at each stop."""
    best = np.zeros(len(seq), dtype=np.float32)
    for strand_seq, flip in ((seq, False), (seq.translate(COMPLEMENT)[::-1], True)):
        for phase in range(3):
            codons = [strand_seq[i : i + 3] for i in range(phase, len(strand_seq) - 2, 3)]
            runs, current = [], []
            for k, codon in enumerate(codons):
                current.append(k)
                if codon in stops:
                    runs.append(current)
                    current = []
            runs.append(current)
            for run in runs:
                for k in run:
                    for j in range(3):
                        pos = phase + 3 * k + j
                        pos = len(seq) - 1 - pos if flip else pos
                        best[pos] = max(best[pos], 3 * len(run))
    best[[c == "N" for c in seq]] = np.nan  # no score where the base is unknown
    return best


def score(seq: str, code: int = 11) -> np.ndarray:
    return longest_orf_scores(encode_nucleotides(seq), code)


def test_hand_made_frames():
    # TAA TAA TAA TAA: frame 0 is all stops (3 each), frames 1 and 2 hold 9-nt open frames, and the reverse
    # strand TTA TTA TTA TTA is one 12-nt open frame: every base scores 12.
    assert score("TAA" * 4).tolist() == [12.0] * 12
    # A 6-base sequence with stops everywhere: TAG|TAG forward; reverse CTA CTA: open 6 -> the reverse wins.
    assert score("TAGTAG").tolist() == [6.0] * 6
    # Too short for a codon: nothing scores; an unknown base has no score at all.
    assert score("AT").tolist() == [0.0, 0.0]
    assert np.isnan(score("TAGRTAG")[3]) and score("TAGRTAG")[0] == 6.0


def test_matches_the_definition_on_random_sequences():
    rng = np.random.default_rng(0)
    for n in (3, 4, 5, 50, 301):
        seq = "".join(rng.choice(list("ACGTN"), n, p=[0.24, 0.24, 0.24, 0.24, 0.04]))
        for code in (11, 4):
            np.testing.assert_array_equal(score(seq, code), reference(seq, stop_codons(code)))


def test_reverse_complement_symmetry_and_genetic_code():
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACGT"), 400))
    np.testing.assert_array_equal(score(seq.translate(COMPLEMENT)[::-1]), score(seq)[::-1])
    assert stop_codons(11) == ("TAA", "TAG", "TGA") and stop_codons(4) == ("TAA", "TAG")
    # TGA TGA TGA: stops under the bacterial code, one open frame under code 4 (TGA = Trp)
    assert score("TGA" * 3, 4).min() == 9.0
    with pytest.raises(ConfigError, match="translation table"):
        stop_codons(99)


@pytest.mark.parametrize("strand", ["+", "-"])
def test_planted_gene_outscores_a_stop_rich_background(strand):
    background = "TTAA" * 30  # TAA in every frame of both strands within every 12 nt
    gene = "ATG" + "GCC" * 30 + "TAA"  # 96 nt, no stop but its last codon on either strand
    if strand == "-":
        gene = gene.translate(COMPLEMENT)[::-1]
    scores = score(background + gene + background)
    inside = scores[len(background) : len(background) + len(gene)]
    assert inside.min() >= 96
    assert scores[:90].max() <= 12 and scores[-90:].max() <= 12
