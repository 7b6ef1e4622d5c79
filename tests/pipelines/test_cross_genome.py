"""pipelines.cross_genome end to end: a tiny checkpoint, tiny genomes with planted genes, the report it writes."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import yaml

from genoattn.baselines.cnn import DilatedCNN
from pipelines import cross_genome

from ..baselines.conftest import save_cnn
from ..predict.conftest import save_checkpoint, tiny_transformer

STOPS = {"TAA", "TAG", "TGA"}


def planted_contig(rng: np.random.Generator, genes: int) -> tuple[str, list[tuple[int, int]]]:
    """Stop-rich background (TTAA repeats: a stop within 12 nt in every frame) around genes of 99-150 nt."""
    codons = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in STOPS]
    seq, spans = "TTAA" * 10, []
    for _ in range(genes):
        gene = "ATG" + "".join(rng.choice(codons, rng.integers(31, 48))) + "TAA"
        spans.append((len(seq), len(seq) + len(gene)))
        seq += gene + "TTAA" * int(rng.integers(8, 20))
    return seq, spans


def write_genome(folder, name: str, contigs: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    fasta, gff = [], ["##gff-version 3"]
    for i in range(contigs):
        seq, spans = planted_contig(rng, genes=3)
        fasta.append(f">{name}_{i}\n{seq}\n")
        gff += [f"{name}_{i}\tt\tCDS\t{s + 1}\t{e}\t.\t+\t0\tID={name}_{i}_{j}" for j, (s, e) in enumerate(spans)]
    (folder / f"{name}.fa").write_text("".join(fasta))
    (folder / f"{name}.gff3").write_text("\n".join(gff) + "\n")
    return {"name": name, "fasta": f"{name}.fa", "annotation": f"{name}.gff3", "feature_types": ["CDS"]}


@pytest.fixture
def tiny_setup(tmp_path):
    manifest = {"genomes": [
        {**write_genome(tmp_path, "planted", 1, seed=1), "role": "eval", "group": "prokaryote", "gc": 0.3},
        {**write_genome(tmp_path, "eukaryotic", 1, seed=2), "role": "eval", "group": "eukaryote", "gc": 0.3},
        {**write_genome(tmp_path, "trained", 4, seed=3), "role": "train", "holdout_every": 2},
        {**write_genome(tmp_path, "unscored", 1, seed=4), "role": "train"},
    ]}
    (tmp_path / "genomes.yaml").write_text(yaml.safe_dump(manifest))
    model = save_checkpoint(tmp_path / "model.ckpt", tiny_transformer(), window=256)
    cnn = save_cnn(tmp_path / "cnn.ckpt", DilatedCNN(channels=4, num_blocks=2), window=128)
    return tmp_path, model, cnn


def test_report_of_a_tiny_checkpoint(tiny_setup):
    root, model, cnn = tiny_setup
    out = root / "report"
    results = cross_genome.main(["--checkpoint", str(model), "--genomes", str(root / "genomes.yaml"),
                                 "--out", str(out), "--work", str(root / "work"), "--cnn", str(cnn), "--quiet"])
    assert list(results) == ["report", "longest_orf", "cnn"]
    for method in results.values():
        assert set(method) == {"planted", "eukaryotic", "trained"}  # 'unscored': a train genome without a split
        assert all(0.0 <= r["auroc"] <= 1.0 for r in method.values())
    assert results["longest_orf"]["planted"]["auroc"] > 0.9  # planted genes are the long open frames
    held_out = sum(len(line) for i, line in enumerate((root / "trained.fa").read_text().splitlines()[1::2])
                   if i % 2 == 0)
    assert results["report"]["trained"]["bases"] == results["cnn"]["trained"]["bases"] == held_out
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 9 and {r["method"] for r in rows} == {"report", "longest_orf", "cnn"}
    doc = json.loads((out / "report.json").read_text())
    assert doc["provenance"]["commit"] and doc["provenance"]["versions"]["torch"]
    assert doc["provenance"]["command"].startswith(f"python -m pipelines.cross_genome --checkpoint {model}")
    assert set(doc["provenance"]["checkpoints"]) == {"report", "cnn"}
    text = (out / "report.md").read_text()
    assert "## Eukaryotic fragment" in text and "trained (held-out contigs)" in text
    assert (root / "work" / "report" / "planted" / "planted.bw").is_file()  # predict's default track: bigWig


def test_missing_cnn_checkpoint_is_one_line(tiny_setup, capsys):
    root, model, _ = tiny_setup
    with pytest.raises(SystemExit) as info:
        cross_genome.main(["--checkpoint", str(model), "--genomes", str(root / "genomes.yaml"),
                           "--out", str(root / "r"), "--cnn", str(root / "none.ckpt")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "none.ckpt: CNN baseline checkpoint not found" in err and err.count("\n") == 1


def test_config_trains_then_evaluates(tiny_setup):
    root, _, cnn = tiny_setup
    config = {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "max_steps": 4, "max_epochs": 5, "val_check_interval": 2,
                    "check_val_every_n_epoch": None, "limit_val_batches": 1, "limit_test_batches": 1,
                    "enable_progress_bar": False, "enable_model_summary": False, "logger": False},
        "model": {"net": {"class_path": "genoattn.baselines.cnn.DilatedCNN",
                          "init_args": {"channels": 4, "num_blocks": 2}}, "warmup_steps": 1},
        "data": {"fasta": str(root / "trained.fa"), "annotation": str(root / "trained.gff3"), "window": 128,
                 "holdout_every": 2, "val_fraction": 0.3, "train_windows_per_epoch": 8, "batch_size": 4},
    }
    (root / "tiny.yaml").write_text(yaml.safe_dump(config))
    out = root / "trained_report"
    results = cross_genome.main(["--config", str(root / "tiny.yaml"), "--genomes", str(root / "genomes.yaml"),
                                 "--out", str(out), "--work", str(root / "work"), "--cnn", str(cnn), "--quiet"])
    checkpoint = json.loads((out / "report.json").read_text())["provenance"]["checkpoints"]["trained_report"]
    assert checkpoint["path"].startswith(str(root / "work" / "train" / "checkpoints"))
    assert set(results["trained_report"]) == {"planted", "eukaryotic", "trained"}
