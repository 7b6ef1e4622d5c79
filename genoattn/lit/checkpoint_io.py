"""How training writes and reads checkpoint files: atomically, and without running code from them.

Lightning's own writer serialises a checkpoint in memory and then, for local files, writes a temporary file in
the system's temporary folder and moves it into place; when that folder is on another file system the move is a
copy, so a full disk leaves a truncated checkpoint under its final name. Here ``torch.save`` writes a hidden
temporary file beside the target, which is synced and renamed over it: a checkpoint file is either the old one
or the complete new one. A failed write (disk full, quota) raises one ``CheckpointWriteError`` line.
Reading goes through :func:`genoattn.lit.checkpoint.load_checkpoint` (``weights_only`` with genoattn's
allow-list), for ``--ckpt_path`` and for testing the best checkpoint alike.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.utilities.cloud_io import _is_local_file_protocol
from pytorch_lightning.plugins.io import TorchCheckpointIO

from genoattn.atomic import atomic_target
from genoattn.errors import GenoattnError
from genoattn.lit.checkpoint import checkpoint_globals, load_checkpoint


class CheckpointWriteError(GenoattnError, OSError):
    """A checkpoint could not be written (the message names the file and why; the previous file is kept)."""


def save_atomically(checkpoint: dict[str, Any], path: str | Path) -> None:
    """``torch.save`` into a temporary file beside ``path``, synced, then renamed over ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_target(path) as tmp, open(tmp, "wb") as fh:
            torch.save(checkpoint, fh)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        kept = "the previous checkpoint is unchanged" if path.exists() else "no file was left"
        raise CheckpointWriteError(f"{path}: cannot write the checkpoint ({exc.strerror or exc}); {kept}") from None


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO with atomic local writes and safe reads (see the module doc)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None or not _is_local_file_protocol(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        save_atomically(checkpoint, path)

    def load_checkpoint(self, path, map_location=None, weights_only: bool | None = None) -> dict[str, Any]:
        if not _is_local_file_protocol(path):
            with torch.serialization.safe_globals(list(checkpoint_globals())):
                return super().load_checkpoint(path, map_location, weights_only=True)
        return load_checkpoint(path, map_location=map_location)
