"""composition: N50 / L50, GC per bin (N left out), runs of N."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genoattn.data.composition import gc_profile, length_summary, n_run_table
from genoattn.data.tokenizers import encode_nucleotides
from genoattn.errors import InputError

ECOLI_FASTA = Path(__file__).resolve().parents[2] / "data" / "ecoli_prokka" / "genome.fa.gz"


def test_length_summary():
    summary = length_summary({"a": 10, "b": 40, "c": 20, "d": 30})
    # longest first: 40, 30 (70 of 100 >= half), so N50 = 30 and L50 = 2
    assert summary == {"contigs": 4, "bases": 100, "min": 10, "median": 25, "max": 40, "n50": 30, "l50": 2}
    assert length_summary({"a": 7})["n50"] == 7
    with pytest.raises(InputError, match="no contigs"):
        length_summary({})


def test_gc_profile_leaves_n_out():
    ids = encode_nucleotides("GGCC" "ATAT" "GANN" "NN")
    starts, gc = gc_profile(ids, 4)
    assert starts.tolist() == [0, 4, 8, 12]
    np.testing.assert_allclose(gc, [1.0, 0.0, 0.5, np.nan])
    with pytest.raises(InputError, match="bin_size"):
        gc_profile(ids, 0)


def test_gc_profile_of_the_embedded_genome_matches_its_readme():
    from genoattn.data.genome import Genome

    with Genome(ECOLI_FASTA) as genome:
        ids = encode_nucleotides(genome.fetch("BAC_00001", 0, genome.length("BAC_00001")))
    _, gc = gc_profile(ids, len(ids))
    assert 0.45 < gc[0] < 0.56  # data/README.md: GC 50.8% over the genome


def test_n_run_table():
    ids = {"x": encode_nucleotides("NNACGTNACN"), "y": encode_nucleotides("ACGT")}
    assert n_run_table(ids) == [("x", 0, 2), ("x", 6, 7), ("x", 9, 10)]
    assert n_run_table(ids, min_length=2) == [("x", 0, 2)]
