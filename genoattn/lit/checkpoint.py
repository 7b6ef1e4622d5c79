"""What a genoattn checkpoint carries besides weights, and loading a network for inference from it.

``checkpoint["genoattn"]`` = {"format": 1, "version", "task", "num_classes",
"net": {"class_path", "init_args"},
"data": {"window", "tokenizer", "k", "label_mode", "feature_types", "uppercase", "short_contigs"}}.
Attention specs (frozen dataclasses) inside ``init_args`` are stored as {"class_path", "init_args"} dicts.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genoattn import __version__
from genoattn.errors import InputError

FORMAT = 1
DATA_KEYS = ("window", "tokenizer", "k", "label_mode", "feature_types", "uppercase", "short_contigs")


def class_path(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def import_class(path: str) -> type:
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise InputError(f"cannot import {path!r}: {exc}") from exc


def to_plain(value: Any) -> Any:
    """Dataclass specs -> {"class_path", "init_args"}; lists/tuples/dicts recursively; tensors to lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return {"class_path": class_path(value), "init_args": fields}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return value.tolist()
    return value


def from_plain(value: Any) -> Any:
    """Inverse of :func:`to_plain` for specs (lists of per-layer specs included)."""
    if isinstance(value, dict) and set(value) == {"class_path", "init_args"}:
        cls = import_class(value["class_path"])
        args = {k: from_plain(v) for k, v in value["init_args"].items()}
        field_types = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
        for name, arg in args.items():  # tuples come back from JSON/pickle-free storage as lists
            if isinstance(arg, list) and name in field_types and "tuple" in str(field_types[name].type):
                args[name] = tuple(arg)
        return cls(**args)
    if isinstance(value, list):
        return [from_plain(v) for v in value]
    return value


def net_record(net: nn.Module) -> dict[str, Any]:
    """{"class_path", "init_args"} that rebuilds ``net``; needs the net to keep its init args in ``net.config``."""
    config = getattr(net, "config", None)
    if not isinstance(config, dict):
        raise InputError(f"{class_path(net)} keeps no 'config' of its init args; it cannot be rebuilt for prediction")
    return {"class_path": class_path(net), "init_args": to_plain(config)}


def build_record(task: str, num_classes: int, net: nn.Module, data: object | None) -> dict[str, Any]:
    data_info = {key: to_plain(getattr(data, key, None)) for key in DATA_KEYS} if data is not None else {}
    tokenizer = getattr(data, "tokenizer", None)
    if tokenizer is not None and not isinstance(data_info.get("tokenizer"), str):
        data_info["tokenizer"] = "kmer" if "kmer" in type(tokenizer).__name__.lower() else "nucleotide"
        data_info["k"] = getattr(tokenizer, "k", data_info.get("k"))
    return {
        "format": FORMAT,
        "version": __version__,
        "task": task,
        "num_classes": num_classes,
        "net": net_record(net),
        "data": data_info,
    }


def read_record(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[dict, dict]:
    """Load a checkpoint file; return (genoattn record, state_dict). Clear InputError on anything else."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001  (truncated zip, pickle errors, not a torch file ...)
        raise InputError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(checkpoint, dict) or "genoattn" not in checkpoint:
        raise InputError(f"{path}: not a genoattn checkpoint (no 'genoattn' record; written by another program?)")
    record = checkpoint["genoattn"]
    if record.get("format") != FORMAT:
        raise InputError(
            f"{path}: checkpoint format {record.get('format')!r} (genoattn {record.get('version')}) is not supported "
            f"by genoattn {__version__}, which reads format {FORMAT}"
        )
    return record, checkpoint.get("state_dict", {})


def load_for_inference(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the network of a genoattn checkpoint with its weights, in eval mode; return (net, record)."""
    record, state_dict = read_record(path, map_location)
    cls = import_class(record["net"]["class_path"])
    init_args = {k: from_plain(v) for k, v in record["net"]["init_args"].items()}
    try:
        net = cls(**init_args)
    except TypeError as exc:
        raise InputError(f"{path}: its network arguments do not fit {cls.__name__} here ({exc})") from exc
    weights = {k[len("net.") :]: v for k, v in state_dict.items() if k.startswith("net.")}
    missing, unexpected = net.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise InputError(
            f"{path}: weights do not match the network (missing {sorted(missing)[:3]}, unexpected "
            f"{sorted(unexpected)[:3]})"
        )
    return net.to(map_location).eval(), record
