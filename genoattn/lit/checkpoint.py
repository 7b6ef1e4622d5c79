"""What a genoattn checkpoint carries besides weights, and loading a network for inference from it.

``checkpoint["genoattn"]`` = {"format": 1, "version", "task", "num_classes",
"net": {"class_path", "init_args"},
"data": {"window", "tokenizer", "k", "label_mode", "feature_types", "uppercase", "short_contigs"}}.
Attention specs (frozen dataclasses) inside ``init_args`` are stored as {"class_path", "init_args"} dicts.

Checkpoint files are read with ``torch.load(weights_only=True)``: tensors, containers and primitives, plus an
allow-list of the few classes a genoattn checkpoint can hold (``CHECKPOINT_GLOBALS``: data and attention spec
dataclasses and paths that a data or model module given them in Python keeps among its hyper-parameters). A
file that would need anything else (a crafted pickle that would run code) is refused with one line before any
of it runs.
"""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
import pickle
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genoattn import __version__
from genoattn.errors import InputError

FORMAT = 1
RESUME_KEYS = ("state_dict", "optimizer_states", "loops")  # what Lightning needs to continue training
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


@cache
def checkpoint_globals() -> tuple[type, ...]:
    """Classes besides tensors and primitives that a genoattn checkpoint may hold (see the module doc)."""
    from genoattn.attention import patterns
    from genoattn.data.genome_set import GenomeSpec
    from genoattn.models.specs import PerformerSpec, RoutingSpec

    specs = [cls for cls in vars(patterns).values()
             if isinstance(cls, type) and dataclasses.is_dataclass(cls)
             and cls.__module__.startswith(patterns.__name__)]
    return (*specs, PerformerSpec, RoutingSpec, GenomeSpec, pathlib.PosixPath, pathlib.WindowsPath,
            pathlib.PurePosixPath, pathlib.PureWindowsPath)


def load_checkpoint(path: str | Path, map_location: str | torch.device | None = "cpu", mmap: bool = False) -> dict:
    """``torch.load`` of a checkpoint file without running any code from it (weights_only plus the allow-list);
    InputError, one line, for a missing, truncated, foreign or unsafe file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found")
    try:
        with torch.serialization.safe_globals(list(checkpoint_globals())):
            checkpoint = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        unsafe = _unsafe_globals(path)
        if unsafe:
            raise InputError(f"{path}: refused: it holds Python objects a genoattn checkpoint never holds "
                             f"({', '.join(unsafe[:3])}), which could run code when loaded; load only checkpoints "
                             "you trust") from None
        raise InputError(f"{path}: not a readable PyTorch checkpoint ({_first_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001  (truncated zip, not a torch file, ...)
        raise InputError(f"{path}: not a readable PyTorch checkpoint (truncated or not a checkpoint: "
                         f"{type(exc).__name__}: {_first_line(exc)})") from None
    if not isinstance(checkpoint, dict):
        raise InputError(f"{path}: not a genoattn checkpoint (holds a {type(checkpoint).__name__}, not a dict)")
    return checkpoint


def _unsafe_globals(path: Path) -> list[str]:
    """Names of the classes/functions the file's pickle would import that are not allowed (never imported here)."""
    allowed = {f"{cls.__module__}.{cls.__qualname__}" for cls in checkpoint_globals()}
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001  (not a zip checkpoint: the caller reports it as unreadable)
        return []
    return [name for name in names if name not in allowed]


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split("\n")[0].split())
    return text[:200] or type(exc).__name__


def read_record(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[dict, dict]:
    """Load a checkpoint file; return (genoattn record, state_dict). Clear InputError on anything else."""
    path = Path(path)
    checkpoint = load_checkpoint(path, map_location)
    return check_record(path, checkpoint), checkpoint.get("state_dict", {})


def check_record(path: Path, checkpoint: dict) -> dict:
    """The genoattn record of a loaded checkpoint; InputError for another program's file or another format."""
    if "genoattn" not in checkpoint:
        raise InputError(f"{path}: not a genoattn checkpoint (no 'genoattn' record; written by another program?)")
    record = checkpoint["genoattn"]
    if record.get("format") != FORMAT:
        raise InputError(
            f"{path}: checkpoint format {record.get('format')!r} (genoattn {record.get('version')}) is not supported "
            f"by genoattn {__version__}, which reads format {FORMAT}"
        )
    return record


def check_resumable(path: str | Path, module: nn.Module) -> None:
    """Before ``trainer.fit(ckpt_path=path)``: the file is a full genoattn training checkpoint whose weights fit
    ``module`` (same names and shapes); one InputError line otherwise, instead of a deep traceback."""
    path = Path(path)
    checkpoint = load_checkpoint(path, map_location="cpu", mmap=True)
    check_record(path, checkpoint)
    missing = [key for key in RESUME_KEYS if key not in checkpoint]
    if missing:
        raise InputError(f"{path}: cannot resume training from it: no {', '.join(missing)} (saved with "
                         "save_weights_only?); start a new run and load its weights instead")
    saved, expected = _with_current_names(checkpoint["state_dict"], module), module.state_dict()
    for key, tensor in expected.items():
        if key not in saved:
            raise InputError(f"{path}: its weights do not fit this model: no {key!r} (another model config?)")
        if tuple(saved[key].shape) != tuple(tensor.shape):
            raise InputError(f"{path}: its weights do not fit this model: {key!r} is {tuple(saved[key].shape)} in "
                             f"the checkpoint, {tuple(tensor.shape)} here (another model config?)")
    extra = sorted(set(saved) - set(expected))
    if extra:
        raise InputError(f"{path}: its weights do not fit this model: unexpected {extra[0]!r} (another model config?)")


def _with_current_names(state_dict: dict, module: nn.Module) -> dict:
    """``state_dict`` with the keys renamed as ``module.load_state_dict`` renames them (older checkpoints)."""
    from genoattn.models.attention import SelfAttention, upgrade_state_names

    renamed = dict(state_dict)
    for name, sub in module.named_modules():
        if isinstance(sub, SelfAttention):
            upgrade_state_names(renamed, f"{name}." if name else "")
    return renamed


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
