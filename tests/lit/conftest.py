"""A tiny genome + annotation and a tiny training config for end-to-end training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

CONTIGS = {f"ctg{i}": 3000 for i in range(1, 7)}


@pytest.fixture(scope="session")
def tiny_genome(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_genome")
    rng = np.random.default_rng(0)
    gff = ["##gff-version 3"]
    with open(root / "g.fa", "w") as fasta:
        for name, length in CONTIGS.items():
            seq = "".join(rng.choice(list("ACGT"), length))
            fasta.write(f">{name}\n" + "".join(seq[i : i + 70] + "\n" for i in range(0, length, 70)))
            for j, start in enumerate(range(100, length - 400, 600)):
                strand = "+" if j % 2 else "-"
                gff.append(f"{name}\tt\tCDS\t{start + 1}\t{start + 300}\t.\t{strand}\t0\tID={name}_{j}")
    (root / "a.gff3").write_text("\n".join(gff) + "\n")
    return {"fasta": root / "g.fa", "annotation": root / "a.gff3"}


def make_tiny_config(tiny_genome: dict[str, Path], root: Path, **trainer: object) -> dict:
    """A config dict for GenoattnCLI that trains a 2-layer d=16 model for a few steps on CPU."""
    return {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "max_steps": 6,
            "max_epochs": 50,
            "limit_val_batches": 2,
            "limit_test_batches": 2,
            "val_check_interval": 3,
            "check_val_every_n_epoch": None,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": str(root),
            "logger": {"class_path": "pytorch_lightning.loggers.CSVLogger", "init_args": {"save_dir": str(root)}},
            **trainer,
        },
        "model": {
            "net": {
                "class_path": "genoattn.models.GenomeTransformer",
                "init_args": {
                    "d_model": 16,
                    "num_layers": 2,
                    "num_heads": 2,
                    "patch_size": 2,
                    "dropout": 0.0,
                    "attention": {
                        "class_path": "genoattn.attention.patterns.SlidingWindow",
                        "init_args": {"window": 8},
                    },
                },
            },
            "lr": 3e-3,
            "warmup_steps": 2,
        },
        "data": {
            "fasta": str(tiny_genome["fasta"]),
            "annotation": str(tiny_genome["annotation"]),
            "window": 256,
            "train_windows_per_epoch": 32,
            "test_contigs": ["ctg1"],
            "val_contigs": ["ctg2"],
            "batch_size": 4,
            "num_workers": 0,
        },
    }


@pytest.fixture
def tiny_config(tiny_genome, tmp_path):
    """Factory: tiny_config(**trainer_overrides) -> (config dict, path of its YAML in tmp_path)."""

    def factory(**trainer: object) -> tuple[dict, Path]:
        config = make_tiny_config(tiny_genome, tmp_path / "run", **trainer)
        path = tmp_path / "tiny.yaml"
        path.write_text(yaml.safe_dump(config))
        return config, path

    return factory
