"""Scoring a bedGraph against an annotation on held-out contigs."""

from __future__ import annotations

import json

from pipelines import evaluate_tracks


def test_perfect_track_scores_one_and_only_held_out_contigs_count(tmp_path):
    (tmp_path / "g.fa").write_text(">a\n" + "ACGT" * 25 + "\n>b\n" + "ACGT" * 25 + "\n")
    gff = "##gff-version 3\na\tt\tCDS\t11\t40\t.\t+\t0\tID=x\nb\tt\tCDS\t1\t100\t.\t+\t0\tID=y\n"
    (tmp_path / "a.gff3").write_text(gff)
    # contig a: 1.0 inside the CDS [10, 40), 0.0 elsewhere, except bases 90-100 with no value (an N run)
    (tmp_path / "p.bedGraph").write_text("a\t0\t10\t0.0\na\t10\t40\t1.0\na\t40\t90\t0.0\nb\t0\t100\t0.0\n")
    metrics = evaluate_tracks.main([
        "--bedgraph", str(tmp_path / "p.bedGraph"), "--annotation", str(tmp_path / "a.gff3"),
        "--fasta", str(tmp_path / "g.fa"), "--holdout-every", "2", "--out", str(tmp_path / "m.json"),
    ])
    assert metrics["auroc"] == 1.0 and metrics["contigs"] == 1 and metrics["bases"] == 90
    assert json.loads((tmp_path / "m.json").read_text())["auprc"] == 1.0
