"""The shipped model (models/README.md) predicts a genome it never saw, on the CPU, from the command line."""

from pathlib import Path

from genoattn.predict import main as predict_main
from pipelines.evaluate_tracks import evaluate

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "coding_quickstart.ckpt"
GENOME = REPO / "data" / "genomes" / "sars_cov_2"


def test_shipped_model_predicts_sars_cov_2_from_the_command_line(tmp_path):
    predict_main(["--checkpoint", str(SHIPPED), "--fasta", str(GENOME / "genome.fa.gz"), "--out", str(tmp_path),
                  "--quiet"])
    assert (tmp_path / "genome.bed").stat().st_size > 0
    metrics = evaluate(tmp_path / "genome.bw", GENOME / "annotation.gb.gz", GENOME / "genome.fa.gz")
    assert metrics["auroc"] > 0.95  # 0.974 in benchmarks/cross_genome/quickstart/
