"""A FASTA whose name says another compression than its content reads right, with nothing written beside it."""

from __future__ import annotations

import pytest
from Bio import bgzf

from genoattn.data.genome import Genome

TEXT = ">a desc\nACGTACGTAC\nACG\n>empty\n>b\nttgcaNNryk\n"


@pytest.mark.parametrize("name,content", [("plain.fa.gz", "plain"), ("plain.fa.bgz", "plain"),
                                          ("plain.fa.bz2", "plain"), ("block.fa", "bgzf")])
def test_misnamed_compression(tmp_path, name, content):
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / name
    if content == "bgzf":
        with bgzf.BgzfWriter(str(path), "wb") as fh:
            fh.write(TEXT.encode())
    else:
        path.write_text(TEXT)
    for _ in range(2):  # the second open reuses the cache entry
        genome = Genome(path, cache_dir=tmp_path / "cache")
        assert genome.contigs == {"a": 13, "empty": 0, "b": 10}
        assert genome.fetch("a", 0, 13) == "ACGTACGTACACG" and genome.fetch("b", 0, 10) == "TTGCANNNNN"
        assert genome.fasta_path.is_relative_to(tmp_path / "cache")
    assert [p.name for p in folder.iterdir()] == [name]  # no .fai/.gzi beside the input


def test_non_dna_letters_are_counted_from_the_start(tmp_path):
    path = tmp_path / "p.fa"
    path.write_text(">empty\n>p\nMKLLEFPQ\n>q\nEEEE\n")
    found, seen = Genome(path).non_dna_letters(max_letters=8)
    assert seen == 8 and found == {"L": 2, "E": 1, "F": 1, "P": 1, "Q": 1}  # M and K are IUPAC codes
    found, seen = Genome(path).non_dna_letters()
    assert seen == 12 and found["E"] == 5
