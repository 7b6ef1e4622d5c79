"""Scoring per-nucleotide tracks (bedGraph, bigWig) against GFF3/GenBank annotations, per genome."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipelines import evaluate_tracks

GENBANK = """LOCUS       tiny                     100 bp    DNA     linear   UNK 01-JAN-2000
DEFINITION  tiny test record.
ACCESSION   tiny
VERSION     tiny.1
FEATURES             Location/Qualifiers
     CDS             11..40
                     /locus_tag="x"
     CDS             complement(61..90)
                     /locus_tag="y"
ORIGIN
        1 acgtacgtac gtacgtacgt acgtacgtac gtacgtacgt acgtacgtac gtacgtacgt
       61 acgtacgtac gtacgtacgt acgtacgtac gtacgtacgt
//
"""


@pytest.fixture
def genome(tmp_path):
    (tmp_path / "g.fa").write_text(">a\n" + "ACGT" * 25 + "\n>b\n" + "ACGT" * 25 + "\n")
    gff = "##gff-version 3\na\tt\tCDS\t11\t40\t.\t+\t0\tID=x\nb\tt\tCDS\t1\t100\t.\t+\t0\tID=y\n"
    (tmp_path / "a.gff3").write_text(gff)
    return tmp_path


def test_perfect_track_scores_one_and_only_held_out_contigs_count(genome):
    # contig a: 1.0 inside the CDS [10, 40), 0.0 elsewhere, except bases 90-100 with no value (an N run)
    (genome / "p.bedGraph").write_text("a\t0\t10\t0.0\na\t10\t40\t1.0\na\t40\t90\t0.0\nb\t0\t100\t0.0\n")
    results = evaluate_tracks.main([
        "--bedgraph", str(genome / "p.bedGraph"), "--annotation", str(genome / "a.gff3"),
        "--fasta", str(genome / "g.fa"), "--holdout-every", "2", "--out", str(genome / "m.json"), "--name", "toy",
    ])
    assert results["toy"]["auroc"] == 1.0 and results["toy"]["contigs"] == 1 and results["toy"]["bases"] == 90
    assert json.loads((genome / "m.json").read_text())["toy"]["auprc"] == 1.0


def test_genbank_annotation_gives_its_own_contigs(tmp_path):
    (tmp_path / "t.gb").write_text(GENBANK)
    # a track that ranks the minus-strand CDS [60, 90) above everything, the plus one [10, 40) at background
    (tmp_path / "p.bedGraph").write_text("tiny.1\t0\t60\t0.2\ntiny.1\t60\t90\t0.9\ntiny.1\t90\t100\t0.2\n")
    metrics = evaluate_tracks.evaluate(tmp_path / "p.bedGraph", tmp_path / "t.gb")
    assert metrics["bases"] == 100 and metrics["positive_fraction"] == 0.6
    # positives 60 (30 at 0.9, 30 tied with the 40 negatives at 0.2): AUROC = 0.5 + 0.5 * 0.5 = 0.75
    assert metrics["auroc"] == pytest.approx(0.75)


def test_bigwig_equals_bedgraph(genome):
    pyBigWig = pytest.importorskip("pyBigWig")  # in the dev extra: CI has it
    rng = np.random.default_rng(0)
    values = {c: rng.random(100).round(3) for c in ("a", "b")}
    with open(genome / "p.bedGraph", "w") as fh:
        for c, v in values.items():
            fh.writelines(f"{c}\t{i}\t{i + 1}\t{x}\n" for i, x in enumerate(v) if i < 95)
    bw = pyBigWig.open(str(genome / "p.bw"), "w")
    bw.addHeader([("a", 100), ("b", 100)])
    for c, v in values.items():
        bw.addEntries(c, 0, values=v[:95].astype(float).tolist(), span=1, step=1)
    bw.close()
    args = (genome / "a.gff3", genome / "g.fa")
    from_bw = evaluate_tracks.evaluate(genome / "p.bw", *args)
    assert from_bw == pytest.approx(evaluate_tracks.evaluate(genome / "p.bedGraph", *args))
    assert from_bw["bases"] == 190  # the last 5 bases of each contig have no value


def test_manifest_mode_scores_each_genome_with_a_track(genome, tmp_path):
    (genome / "t.gb").write_text(GENBANK)
    manifest = genome / "m.yaml"
    manifest.write_text("genomes:\n"
                        "  - {name: toy, fasta: g.fa, annotation: a.gff3, role: train, holdout_every: 2}\n"
                        "  - {name: tiny, fasta: t.gb, annotation: t.gb, role: eval}\n"
                        "  - {name: absent, fasta: t.gb, annotation: t.gb, role: eval}\n")
    tracks = tmp_path / "tracks"
    tracks.mkdir()
    (tracks / "toy.bedGraph").write_text("a\t0\t10\t0.0\na\t10\t40\t1.0\na\t40\t100\t0.0\n")
    (tracks / "tiny.bedGraph").write_text("tiny.1\t0\t100\t0.5\n")
    results = evaluate_tracks.main(["--manifest", str(manifest), "--track-dir", str(tracks)])
    assert set(results) == {"toy", "tiny"}
    assert results["toy"]["auroc"] == 1.0 and results["tiny"]["auroc"] == 0.5


def test_bad_inputs_exit_with_one_line(genome, capsys):
    (genome / "bad.bedGraph").write_text("a\t0\tten\t0.5\n")
    for argv, message in (
        (["--track", str(genome / "bad.bedGraph")], "bad.bedGraph:1: start and end must be integers"),
        (["--track", str(genome / "none.bedGraph")], "track file not found"),
    ):
        with pytest.raises(SystemExit) as info:
            evaluate_tracks.main([*argv, "--annotation", str(genome / "a.gff3"), "--fasta", str(genome / "g.fa")])
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
