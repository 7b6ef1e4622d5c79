"""Helpers for baseline tests: a genoattn checkpoint of a DilatedCNN (as genoattn.train writes it)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch

from genoattn.baselines.cnn import DilatedCNN
from genoattn.lit.checkpoint import build_record


def save_cnn(path: Path, net: DilatedCNN, window: int = 64) -> Path:
    """Write ``net`` as a genoattn checkpoint trained on ``window``-nt windows; return the path."""
    data = SimpleNamespace(window=window, tokenizer="nucleotide", k=1, label_mode="binary", feature_types=["CDS"],
                           uppercase=True, short_contigs="pad")
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    torch.save({"genoattn": build_record("token_classification", 2, net, data), "state_dict": state}, path)
    return path
