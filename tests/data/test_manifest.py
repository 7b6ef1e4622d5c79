"""The shipped genome manifest loads, its genomes are where it says and its figures hold; bad manifests fail clearly."""

from __future__ import annotations

import pytest

from genoattn.data.annotations import read_annotation
from genoattn.data.genome import Genome
from genoattn.data.manifest import DEFAULT_MANIFEST, read_manifest
from genoattn.errors import InputError


def test_shipped_manifest():
    genomes = read_manifest(DEFAULT_MANIFEST)
    by_role = {role: [g for g in genomes if g.role == role] for role in ("eval", "train")}
    prokaryote_eval = [g for g in by_role["eval"] if g.group == "prokaryote"]
    assert len(prokaryote_eval) >= 4 and len(by_role["train"]) >= 3
    assert {g.name for g in by_role["eval"]}.isdisjoint(g.name for g in by_role["train"])
    assert all(g.fasta.is_file() and g.annotation.is_file() and g.feature_types == ("CDS",) for g in genomes)
    ecoli = next(g for g in genomes if g.name == "ecoli_prokka")
    assert ecoli.holdout_every == 5 and ecoli.role == "train"
    assert next(g for g in genomes if g.name == "mycoplasma_mycoides").genetic_code == 4
    gcs = sorted(g.gc for g in prokaryote_eval)
    assert gcs[-1] - gcs[0] > 0.08  # a spread of GC content, all unlike E. coli's 0.508
    assert all(abs(gc - 0.508) > 0.05 for gc in gcs)


def test_small_genome_figures_match_its_files():
    plasmid = next(g for g in read_manifest() if g.name == "yersinia_ppcp1")
    with Genome(plasmid.fasta) as genome:
        assert genome.contigs == {"NC_005816.1": 9609}
        seq = genome.fetch("NC_005816.1", 0, 9609)
    assert round((seq.count("G") + seq.count("C")) / len(seq), 3) == plasmid.gc
    cds = read_annotation(plasmid.annotation, plasmid.feature_types)
    assert len(cds) == 10 and {iv.contig for iv in cds} == {"NC_005816.1"}


def test_bad_manifests_name_the_file_and_the_entry(tmp_path):
    fasta = tmp_path / "g.fa"
    fasta.write_text(">c\nACGT\n")
    path = tmp_path / "m.yaml"
    cases = {
        "genomes: []": "non-empty 'genomes' list",
        "genomes: [{name: a, fasta: g.fa, annotation: g.fa}]": "missing role",
        "genomes: [{name: a, fasta: g.fa, annotation: g.fa, role: test}]": "role must be one of",
        "genomes: [{name: a, fasta: missing.fa, annotation: g.fa, role: eval}]": "fasta file .*missing.fa not found",
        "genomes: [{name: a, fasta: g.fa, annotation: g.fa, role: eval, holdout_every: 5}]": "holdout_every",
        "genomes: [{name: a, fasta: g.fa, annotation: g.fa, role: eval}, "
        "{name: a, fasta: g.fa, annotation: g.fa, role: train}]": "used twice: a",
        "genomes: [": "not valid YAML",
    }
    for text, message in cases.items():
        path.write_text(text)
        with pytest.raises(InputError, match=message) as info:
            read_manifest(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    path.write_text("genomes: [{name: a, fasta: g.fa, annotation: g.fa, role: eval, source: pkg}]")
    (genome,) = read_manifest(path)
    assert genome.fasta == fasta.resolve() and genome.extra == {"source": "pkg"} and genome.genetic_code == 11
