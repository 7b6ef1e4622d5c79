"""Writing a file atomically: into a temporary file beside it, then renamed over it.

Readers see the old file or the new one, never a partial one; a failed write leaves no temporary file behind.
Used by the genome cache, the prediction state files and the training checkpoints.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_beside(path: Path) -> Path:
    """The temporary name for ``path`` (hidden, in the same folder so the rename stays on one file system)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary path for the caller to write; when the block ends without an error it replaces ``path``.
    The temporary file is removed either way."""
    tmp = temporary_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_target(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_target(path) as tmp:
        tmp.write_text(text)
