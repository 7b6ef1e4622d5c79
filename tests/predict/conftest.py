"""Fixtures for prediction tests: tiny FASTA files, toy models with a known receptive field, checkpoints."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from genoattn.attention.patterns import SlidingWindow
from genoattn.data.vocab import VOCAB_SIZE
from genoattn.models import GenomeTransformer


def random_sequence(length: int, seed: int, alphabet: str = "ACGT") -> str:
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list(alphabet), length))


def fasta_text(records: dict[str, str], width: int = 60) -> str:
    lines = []
    for name, seq in records.items():
        lines.append(f">{name} test record")
        lines.extend(seq[i: i + width] for i in range(0, len(seq), width))
    return "\n".join(lines) + "\n"


def write_fasta(path: Path, records: dict[str, str], compression: str | None = None) -> Path:
    """Write records as FASTA: plain, ``gzip`` or ``bgzip`` (BGZF blocks written by Bio.bgzf)."""
    data = fasta_text(records).encode()
    if compression == "gzip":
        path.write_bytes(gzip.compress(data))
    elif compression == "bgzip":
        from Bio import bgzf

        with bgzf.BgzfWriter(str(path), "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


class ToyConv(nn.Module):
    """Deterministic per-base classifier whose outputs depend on at most ``radius`` bases on each side
    (two zero-padded convolutions of radii r1 + r2 = radius)."""

    task = "token_classification"

    def __init__(self, radius: int = 6, num_classes: int = 2, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        r1 = radius // 2
        self.r1, self.r2 = r1, radius - r1
        self.num_classes = num_classes
        self.receptive_field = radius
        self.embedding = nn.Embedding(VOCAB_SIZE, 4)
        self.conv1 = nn.Conv1d(4, 8, 2 * self.r1 + 1, padding=self.r1)
        self.conv2 = nn.Conv1d(8, num_classes, 2 * self.r2 + 1, padding=self.r2)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator))
        self.calls = 0  # windows seen

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        self.calls += int(input_ids.shape[0])
        x = self.embedding(input_ids).transpose(1, 2)  # [B, 4, L]
        x = torch.tanh(self.conv1(x))  # [B, 8, L]
        return self.conv2(x).transpose(1, 2)  # [B, L, C]


def tiny_transformer(task: str = "token_classification", num_classes: int = 2, window: int = 4,
                     patch_size: int = 4, seed: int = 0) -> GenomeTransformer:
    torch.manual_seed(seed)
    return GenomeTransformer(num_classes=num_classes, task=task, d_model=16, num_layers=2, num_heads=2,
                             dropout=0.0, patch_size=patch_size, stem_kernel_size=patch_size + 2 if patch_size > 1
                             else None, attention=SlidingWindow(window), backend="blocked").eval()


def record_for(net: GenomeTransformer, window: int = 256, label_mode: str = "binary", tokenizer: str = "nucleotide",
               k: int = 1, fmt: int = 1) -> dict:
    """A checkpoint's ``genoattn`` record for ``net`` (the contract of genoattn.lit.checkpoint)."""
    init_args = dict(net.config)
    spec = init_args["attention"]
    init_args["attention"] = {"class_path": f"{type(spec).__module__}.{type(spec).__name__}",
                              "init_args": {"window": spec.window, "causal": spec.causal}}
    return {
        "format": fmt,
        "version": "0.1.0",
        "task": net.task,
        "num_classes": net.num_classes,
        "net": {"class_path": "genoattn.models.GenomeTransformer", "init_args": init_args},
        "data": {"window": window, "tokenizer": tokenizer, "k": k, "label_mode": label_mode,
                 "feature_types": ["CDS"], "uppercase": True},
    }


def save_checkpoint(path: Path, net: GenomeTransformer, **record_args) -> Path:
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    torch.save({"genoattn": record_for(net, **record_args), "state_dict": state, "epoch": 0}, path)
    return path


@pytest.fixture
def genome_records() -> dict[str, str]:
    """Contigs covering the tiling cases: several windows with a partial last one, shorter than the window,
    empty, lowercase, and an N run."""
    long = random_sequence(2000, 1)
    masked = random_sequence(700, 2)
    return {
        "chrA": long,
        "short": random_sequence(37, 3),
        "empty": "",
        "soft": random_sequence(611, 4).lower(),
        "gappy": masked[:200] + "N" * 300 + masked[500:],
    }


def read_bedgraph(path: Path, lengths: dict[str, int]) -> dict[str, np.ndarray]:
    """Per-base values of a bedGraph (NaN where no line covers a base)."""
    out = {name: np.full(n, np.nan) for name, n in lengths.items()}
    for line in path.read_text().splitlines():
        if line.startswith("track"):
            continue
        contig, start, end, value = line.split("\t")
        out[contig][int(start): int(end)] = float(value)
    return out
