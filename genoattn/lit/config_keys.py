"""Checks of the training command line before LightningCLI parses it: misspelt YAML keys, int-or-fraction values.

jsonargparse stops at the first key it does not know and prints the whole usage (some 90 lines) without naming
the YAML file. :func:`check_config_files` reads every ``--config`` file first and raises one ConfigError line
naming each file and every unknown key in it, with the closest known key. Keys are known from the parser's
defaults; the ``init_args`` of a ``class_path`` entry (``model.net``, a logger, an attention spec inside them)
are checked against that class's signature, using the class_path given earlier (in this or an earlier file) when
an overlay file gives only ``init_args``.

Lightning's ``limit_*_batches``, ``val_check_interval`` and ``overfit_batches`` mean a number of batches when an
int and a fraction when a float, but their ``int | float`` type reaches jsonargparse as ``float | int`` (typing
caches ``Union`` by its set of members), so ``1`` became ``1.0``: all batches instead of one.
:func:`integer_limits` finds the values written as integers, for the caller to put back.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from genoattn.errors import ConfigError

INT_OR_FRACTION = ("trainer.limit_train_batches", "trainer.limit_val_batches", "trainer.limit_test_batches",
                   "trainer.limit_predict_batches", "trainer.val_check_interval", "trainer.overfit_batches")
_CLASS_KEYS = {"class_path", "init_args", "dict_kwargs"}
_INT = re.compile(r"^[+]?\d+$")


def config_files(args: list[str]) -> list[Path]:
    """The ``--config`` files of a command line, in order."""
    files = []
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            files.append(Path(args[i + 1]))
        elif arg.startswith("--config="):
            files.append(Path(arg.split("=", 1)[1]))
    return files


def _load(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read this config file ({' '.join(str(exc).split())[:200]})") from None
    return data if isinstance(data, dict) else {}


def check_config_files(known: set[str], args: list[str]) -> None:
    """ConfigError naming every unknown key of every ``--config`` file (see the module doc); ``known``: the dotted
    keys the parser accepts."""
    class_paths: dict[str, str] = {}
    problems = []
    for path in config_files(args):
        unknown = list(_unknown(_load(path), "", known, class_paths))
        if unknown:
            problems.append(f"{path}: {', '.join(unknown)}")
    if problems:
        raise ConfigError(f"unknown config keys: {'; '.join(problems)}")


def _unknown(data: dict, prefix: str, known: set[str], class_paths: dict[str, str]) -> Iterator[str]:
    for key, value in data.items():
        path = f"{prefix}{key}"
        if path in known:
            yield from _unknown_in_value(value, path, class_paths)
        elif isinstance(value, dict) and any(k.startswith(f"{path}.") for k in known):
            yield from _unknown(value, f"{path}.", known, class_paths)
        else:
            yield _with_hint(path, _siblings(path, known))


def _unknown_in_value(value: Any, path: str, class_paths: dict[str, str]) -> Iterator[str]:
    """Unknown init_args of ``class_path`` entries in a value (a dict, or a list of them)."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _unknown_in_value(item, f"{path}[{i}]", class_paths)
        return
    if not isinstance(value, dict) or not (_CLASS_KEYS & set(value)):
        return
    if isinstance(value.get("class_path"), str):
        class_paths[path] = value["class_path"]
    cls = _import(class_paths.get(path))
    args = dict(value.get("init_args") or {})
    args.update({k: v for k, v in value.items() if k not in _CLASS_KEYS})
    names = _init_names(cls) if cls is not None else None
    for name, arg in args.items():
        arg_path = f"{path}.init_args.{name}"
        if names is not None and name not in names:
            yield _with_hint(arg_path, [f"{path}.init_args.{n}" for n in names])
        else:
            yield from _unknown_in_value(arg, arg_path, class_paths)


def _import(class_path: str | None) -> type | None:
    if not class_path or "." not in class_path:
        return None
    module, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None  # jsonargparse reports a bad class_path itself


def _init_names(cls: type) -> set[str] | None:
    """Argument names of ``cls(...)`` (None: it takes any keyword)."""
    if dataclasses.is_dataclass(cls):
        return {f.name for f in dataclasses.fields(cls) if f.init}
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL}


def _siblings(path: str, known: set[str]) -> list[str]:
    """Known keys and groups beside ``path`` (same parent)."""
    depth = path.count(".")
    parent = path.rsplit(".", 1)[0] if depth else ""
    prefixes = {".".join(k.split(".")[: depth + 1]) for k in known if k.count(".") >= depth}
    return [k for k in prefixes if not depth or k.rsplit(".", 1)[0] == parent]


def _with_hint(path: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(path, candidates, n=1, cutoff=0.75)
    return f"{path} (did you mean {close[0]}?)" if close else path


def integer_limits(args: list[str]) -> dict[str, int]:
    """The INT_OR_FRACTION keys whose last value (config files in order, then the command line) is written as an
    integer, with that integer."""
    written: dict[str, Any] = {}
    for path in config_files(args):
        data = _load(path)
        for key in INT_OR_FRACTION:
            section, name = key.split(".")
            group = data.get(section)
            if isinstance(group, dict) and name in group:
                written[key] = group[name]
    for i, arg in enumerate(args):
        flag, eq, inline = arg.partition("=")
        if flag.startswith("--") and flag[2:] in INT_OR_FRACTION:
            text = inline if eq else (args[i + 1] if i + 1 < len(args) else "")
            written[flag[2:]] = int(text) if _INT.match(text) else text
    return {key: value for key, value in written.items() if isinstance(value, int) and not isinstance(value, bool)}
