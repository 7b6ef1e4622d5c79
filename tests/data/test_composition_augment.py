"""Composition augmentation: synonymous codons only inside CDS (proteins and stops kept), GC moved both ways."""

from __future__ import annotations

import numpy as np
import pytest
from Bio.Seq import Seq

from genoattn.data import vocab
from genoattn.data.augment import shift_composition, synonym_table
from genoattn.data.tokenizers import NucleotideTokenizer

TOK = NucleotideTokenizer()
PLUS, MINUS = (30, 330), (420, 720)  # CDS [start, end) on each strand; the rest is non-coding


def window(seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """ids uint8 [1, 800], frame labels int8 [1, 800] and the sequence, with one CDS per strand."""
    rng = np.random.default_rng(seed)
    seq = list("".join(rng.choice(list("ACGT"), 800)))
    frames = np.zeros(800, dtype=np.int8)
    frames[PLUS[0]:PLUS[1]] = np.tile([1, 2, 3], (PLUS[1] - PLUS[0]) // 3)
    frames[MINUS[0]:MINUS[1]] = np.tile([6, 5, 4], (MINUS[1] - MINUS[0]) // 3)
    frames[700:703] = vocab.IGNORE_INDEX  # an ambiguous codon stays as it is
    seq[100] = "N"
    return TOK.encode("".join(seq))[None], frames[None], "".join(seq)


def proteins(seq: str) -> tuple[str, str]:
    return (str(Seq(seq[PLUS[0]:PLUS[1]]).translate()),
            str(Seq(seq[MINUS[0]:MINUS[1]]).reverse_complement().translate()))


def gc(seq: str) -> float:
    return sum(b in "GC" for b in seq) / len(seq)


@pytest.mark.parametrize("strength", [2.0, -2.0])
def test_proteins_and_stops_are_kept_and_gc_moves_with_the_strength(strength):
    ids, frames, seq = window(0)
    rng = np.random.default_rng(1)
    out = TOK.decode(shift_composition(ids, frames, np.array([strength]), rng)[0])
    assert proteins(out) == proteins(seq)  # synonyms only: same amino acids, stops where they were
    assert out[100] == "N" and out[700:703] == seq[700:703]
    third = "".join(out[i + 2] for i in range(PLUS[0], PLUS[1], 3))
    third_before = "".join(seq[i + 2] for i in range(PLUS[0], PLUS[1], 3))
    assert (gc(third) - gc(third_before)) * strength > 0.1
    coding = set(range(*PLUS)) | set(range(*MINUS))
    moved = [i for i in range(800) if out[i] != seq[i] and i not in coding]
    assert moved and all((out[i] in "GC") == (strength > 0) for i in moved)  # non-coding: towards G/C or A/T


def code(codon: str) -> int:
    return 16 * "ACGT".index(codon[0]) + 4 * "ACGT".index(codon[1]) + "ACGT".index(codon[2])


def test_zero_strength_keeps_non_coding_bases_and_synonyms_follow_the_genetic_code():
    ids, frames, _ = window(2)
    out = shift_composition(ids, frames, np.array([0.0]), np.random.default_rng(0))
    assert np.array_equal(out[frames == 0], ids[frames == 0])
    synonyms, gc_count = synonym_table()
    assert sorted(c for c in synonyms[code("TTA")] if c >= 0) == sorted(
        code(c) for c in ("TTA", "TTG", "CTT", "CTC", "CTA", "CTG"))  # leucine
    assert sorted(c for c in synonyms[code("TGA")] if c >= 0) == sorted(code(c) for c in ("TAA", "TAG", "TGA"))
    assert list(synonyms[code("ATG")]) == [code("ATG")] + [-1] * 5 and gc_count[code("CGC")] == 3


def test_each_row_follows_its_genetic_code():
    ids, frames, seq = window(3)
    seq = seq[:60] + "TGA" + seq[63:]  # codon 10 of the plus CDS: a stop under code 11, tryptophan under code 4
    ids = TOK.encode(seq)[None]
    rows = np.repeat(ids, 2, axis=0)
    out = shift_composition(rows, np.repeat(frames, 2, axis=0), np.array([2.0, 2.0]), np.random.default_rng(0),
                            genetic_code=np.array([4, 11]))
    mycoplasma, standard = TOK.decode(out[0]), TOK.decode(out[1])
    assert mycoplasma[60:63] in ("TGA", "TGG") and standard[60:63] in ("TAA", "TAG", "TGA")
    assert str(Seq(mycoplasma[PLUS[0]:PLUS[1]]).translate(table=4)) == str(Seq(seq[PLUS[0]:PLUS[1]]).translate(table=4))
