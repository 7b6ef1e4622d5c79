"""Training on two genomes through the CLI: the genome list parses from YAML, test metrics come per genome."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torchmetrics.classification import BinaryAUROC

from genoattn.data.datamodule import GenomeDataModule
from genoattn.lit.checkpoint import load_for_inference
from genoattn.lit.metrics import metric_inputs
from genoattn.train import run

from .conftest import make_tiny_config


@pytest.fixture(scope="module")
def second_genome(tmp_path_factory) -> dict[str, Path]:
    """An AT-rich genome of 3 contigs with CDS on both strands."""
    root = tmp_path_factory.mktemp("second_genome")
    rng = np.random.default_rng(5)
    gff = ["##gff-version 3"]
    with open(root / "b.fa", "w") as fasta:
        for i in range(3):
            seq = "".join(rng.choice(list("ACGT"), 2000, p=[0.35, 0.15, 0.15, 0.35]))
            fasta.write(f">b{i}\n" + "".join(seq[j : j + 70] + "\n" for j in range(0, 2000, 70)))
            for j, start in enumerate(range(50, 1600, 500)):
                gff.append(f"b{i}\tt\tCDS\t{start + 1}\t{start + 240}\t.\t{'+-'[j % 2]}\t0\tID=b{i}_{j}")
    (root / "b.gff3").write_text("\n".join(gff) + "\n")
    return {"fasta": root / "b.fa", "annotation": root / "b.gff3"}


def test_two_genomes_train_and_are_scored_one_by_one(tiny_genome, second_genome, tmp_path):
    config = make_tiny_config(tiny_genome, tmp_path / "run", limit_test_batches=None, max_steps=4)
    data = config["data"]
    del data["fasta"], data["annotation"]
    data["genomes"] = [
        {"name": "tiny", "fasta": str(tiny_genome["fasta"]), "annotation": str(tiny_genome["annotation"])},
        {"name": "atrich", "fasta": str(second_genome["fasta"]), "annotation": str(second_genome["annotation"]),
         "weight": 2.0},
    ]
    data.update(test_contigs=["tiny:ctg1", "atrich:b0"], val_contigs=["tiny:ctg2", "atrich:b1"])
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(config))
    metrics = run(["--config", str(path)])
    for key in ("test/auroc", "test/tiny/auroc", "test/atrich/auroc", "test/atrich/auprc"):
        assert key in metrics and metrics[key] == metrics[key]
    ckpt_dir = next((tmp_path / "run").rglob("checkpoints"))
    summary = json.loads((ckpt_dir / "test_metrics.json").read_text())
    assert summary["test"]["test/tiny/auroc"] == pytest.approx(metrics["test/tiny/auroc"])

    # the per-genome AUROC is the AUROC of that genome's test rows alone
    checkpoint = torch.load(summary["checkpoint"], map_location="cpu", weights_only=False)
    hparams = checkpoint["datamodule_hyper_parameters"]
    assert [g["name"] for g in hparams["genomes"]] == ["tiny", "atrich"] and hparams["genomes"][1]["weight"] == 2.0
    dm = GenomeDataModule(**{k: v for k, v in hparams.items() if not k.startswith("_")})
    net, _ = load_for_inference(summary["checkpoint"])
    per_genome = {0: BinaryAUROC(), 1: BinaryAUROC()}
    with torch.no_grad():
        for batch in dm.test_dataloader():
            logits = net(batch["input_ids"])
            for g, metric in per_genome.items():
                rows = batch["genome"] == g
                preds, target = metric_inputs("token_classification", logits[rows], batch["labels"][rows])
                metric.update(preds, target)
    assert per_genome[0].compute().item() == pytest.approx(metrics["test/tiny/auroc"], abs=1e-5)
    assert per_genome[1].compute().item() == pytest.approx(metrics["test/atrich/auroc"], abs=1e-5)
