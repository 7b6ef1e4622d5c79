"""The output folder of a run: checked writable before any work, and locked against a second run.

One run at a time writes into a folder: :func:`output_folder` holds an exclusive lock on it (``flock`` on the
folder itself, released by the system when the process ends, so a killed run never blocks ``--resume``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from genoattn.errors import InputError

if sys.platform == "win32":  # no fcntl: no folder lock
    fcntl = None
else:
    import fcntl

_LOCKS: dict[Path, list] = {}  # locked folder -> [file descriptor, holders in this process]
_LOCKS_GUARD = threading.Lock()


def is_main_process() -> bool:
    """False in the extra processes Lightning starts for ``--devices N`` (they neither lock nor write)."""
    return int(os.environ.get("LOCAL_RANK", "0")) == 0 and int(os.environ.get("NODE_RANK", "0")) == 0


def check_output_dir(path: str | Path) -> Path:
    """Create ``path`` if needed and check that files can be created and renamed in it (before any work)."""
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: output folder is an existing file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".genoattn-write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.replace(out / f".genoattn-write-test.{os.getpid()}.renamed")
        (out / f".genoattn-write-test.{os.getpid()}.renamed").unlink()
    except OSError as exc:
        raise InputError(f"{out}: output folder cannot be written ({exc.strerror or exc})") from None
    return out


@contextlib.contextmanager
def output_folder(path: str | Path, lock: bool = True) -> Iterator[Path]:
    """The checked output folder, locked against other runs for the duration (reentrant within a process); a
    folder this call created is removed again if the run leaves nothing in it (a run that failed early)."""
    out = Path(path).expanduser()
    created = not out.exists()
    out = check_output_dir(out)
    try:
        with _folder_lock(out) if lock else contextlib.nullcontext():
            yield out
    finally:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only succeeds when empty


@contextlib.contextmanager
def _folder_lock(out: Path) -> Iterator[None]:
    key = out.resolve()
    with _LOCKS_GUARD:
        held = _LOCKS.get(key)
        if held is None and fcntl is not None:
            fd = os.open(key, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise InputError(f"{out}: another genoattn.predict run is writing into this folder (it holds the "
                                 "folder's lock); wait for it to finish or choose another --out") from None
            held = _LOCKS[key] = [fd, 0]
        if held is not None:
            held[1] += 1
    try:
        yield
    finally:
        with _LOCKS_GUARD:
            if held is not None:
                held[1] -= 1
                if not held[1]:
                    del _LOCKS[key]
                    os.close(held[0])  # releases the flock
