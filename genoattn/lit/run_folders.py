"""One training run, one log folder: the CSV and TensorBoard loggers share a version, and a run that fails before
its first training step leaves no folder behind.

Each of Lightning's file loggers picks the next free ``version_N`` under ``save_dir/name`` on its own, and
TensorBoard's picks it after the CSV logger has created its folder, so one run wrote ``version_0`` (CSV,
checkpoints) and ``version_1`` (events). :func:`share_version` gives every such logger left at ``version: null``
the next number free under all of their folders. :class:`RunFolders` remembers which of those folders the run
creates, and :meth:`RunFolders.remove_if_unused` deletes them after a failure at start-up (no training step, no
checkpoint inside).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_VERSION = re.compile(r"^version_(\d+)$")
FILE_LOGGERS = tuple(f"{package}.{name}" for package in ("pytorch_lightning.loggers", "lightning.pytorch.loggers")
                     for name in ("CSVLogger", "TensorBoardLogger", "csv_logs.CSVLogger",
                                  "tensorboard.TensorBoardLogger"))
DEFAULT_NAME = "lightning_logs"


def next_version(folders: Iterable[Path]) -> int:
    """One more than the highest ``version_N`` in any of ``folders`` (0 when there is none)."""
    found = [int(m.group(1)) for folder in folders if folder.is_dir()
             for child in folder.iterdir() if (m := _VERSION.match(child.name)) and child.is_dir()]
    return max(found, default=-1) + 1


def _file_loggers(loggers: Any) -> list[Any]:
    """The CSV/TensorBoard logger entries (parsed ``class_path``/``init_args``) of a trainer.logger value."""
    entries = loggers if isinstance(loggers, list) else [loggers]
    return [e for e in entries if getattr(e, "class_path", None) in FILE_LOGGERS and getattr(e, "init_args", None)
            is not None]


class RunFolders:
    """The log folders one run is about to create (see the module doc)."""

    def __init__(self) -> None:
        self.versions: list[Path] = []  # this run's version_N folders that did not exist before it
        self.created: list[Path] = []  # those and their missing parents
        self._trainer: Any = None

    def watch(self, trainer: Any) -> None:
        """The run's trainer, whose step count tells whether training started."""
        self._trainer = trainer

    @property
    def trained(self) -> bool:
        """True once the run made a training step (its logs then explain a later failure: they stay)."""
        return self._trainer is not None and self._trainer.global_step > 0

    def share_version(self, loggers: Any) -> None:
        """Give every CSV/TensorBoard logger with ``version`` None one common version; note the folders made."""
        pending = [e for e in _file_loggers(loggers) if e.init_args.get("version") is None]
        if not pending:
            return
        roots = {Path(e.init_args.get("save_dir") or ".") / (e.init_args.get("name") or DEFAULT_NAME) for e in pending}
        version = next_version(roots)
        for entry in pending:
            entry.init_args["version"] = version
        for root in sorted(roots):
            folder = root / f"version_{version}"
            missing = [p for p in [folder, *folder.parents] if not p.exists()]
            if folder in missing:
                self.versions.append(folder)
            self.created += [p for p in missing if p not in self.created]

    def remove_if_unused(self) -> list[Path]:
        """After a failure before any training step: delete this run's version folders unless they hold a
        checkpoint, and the parents it created if left empty; return what was removed."""
        removed = []
        for folder in sorted(self.created, key=lambda p: len(p.parts), reverse=True):  # innermost first
            if not folder.is_dir():
                continue
            if folder in self.versions:
                if any(folder.rglob("*.ckpt")):
                    continue
                shutil.rmtree(folder, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty
            if not folder.exists():
                removed.append(folder)
        return removed
