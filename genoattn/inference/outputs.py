"""Output files of one input, written so that an interrupted run never leaves a finished-looking file.

Each output is appended to a hidden partial file in the output folder (``.NAME.partial``) contig by contig,
and renamed to ``NAME`` when every contig is done. A state file ``STEM.state.json`` (written atomically)
records the fingerprint of the run (checkpoint, input, options), how many contigs are complete (contigs
complete in file order, so a count and the last name identify them), the partial files' sizes after that
contig, and the batch layout at that point. ``--resume`` truncates the partial files to those sizes (dropping
a half-written contig), skips the complete contigs and continues with the same batch layout, so the finished
files are byte-identical to those of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from genoattn.errors import InputError

STATE_FORMAT = 1
STATE_INTERVAL_S = 0.5  # least time between two state writes (the last contig always writes)


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


def file_fingerprint(path: str | Path) -> dict[str, Any]:
    """Identity of a file for resume checks: absolute path, size, modification time."""
    p = Path(path).resolve()
    st = p.stat()
    return {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class ResumePoint:
    """Where an input's run starts: contigs already complete and the batch layout after the last of them."""

    done: int = 0
    cursor: tuple[int, int] = (0, 0)
    complete: bool = False


class OutputFiles:
    """The output files of one input (see the module doc).

    Args:
        out_dir: output folder (checked writable).
        stem: name of the state file (``STEM.state.json``).
        names: output key -> final file name.
        headers: output key -> bytes written at the top of a fresh file.
        fingerprint: JSON-able identity of the run; ``--resume`` refuses a state with another one.
    """

    def __init__(self, out_dir: Path, stem: str, names: dict[str, str], headers: dict[str, bytes],
                 fingerprint: dict[str, Any]) -> None:
        self.out_dir, self.stem = out_dir, stem
        self.final = {key: out_dir / name for key, name in names.items()}
        self.partial = {key: out_dir / f".{name}.partial" for key, name in names.items()}
        self.headers = headers
        self.fingerprint = fingerprint
        self.state_path = out_dir / f"{stem}.state.json"
        self._files: dict[str, BinaryIO] = {}
        # the last contig boundary: contigs complete, last name, batch cursor, partial file sizes
        self._done, self._last, self._cursor = 0, "", (0, 0)
        self._offsets: dict[str, int] = {}
        self._last_state_write = 0.0

    # ------------------------------------------------------------------ starting
    def start(self, resume: bool, contigs: list[str]) -> ResumePoint:
        """Open the partial files: fresh, or (``resume``) where the state file says the last run stopped."""
        if resume:
            point = self._resume_point(contigs)
            if point is not None:
                return point
        for path in self.partial.values():
            path.unlink(missing_ok=True)
        self._files = {key: open(path, "wb") for key, path in self.partial.items()}
        for key, header in self.headers.items():
            self._files[key].write(header)
        self._done, self._last, self._cursor = 0, "", (0, 0)
        self._offsets = {key: fh.tell() for key, fh in self._files.items()}
        self._write_state(complete=False)
        return ResumePoint()

    def _resume_point(self, contigs: list[str]) -> ResumePoint | None:
        if not self.state_path.exists():
            return None
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.state_path}: unreadable state file ({exc}); rerun without --resume") from None
        if state.get("format") != STATE_FORMAT or state.get("fingerprint") != self.fingerprint:
            changed = _changed_keys(state.get("fingerprint") or {}, self.fingerprint)
            raise InputError(f"{self.state_path}: cannot resume: {changed or 'the state format'} changed since the "
                             "interrupted run; rerun without --resume to start over")
        done, last = int(state.get("done", 0)), state.get("last", "")
        if done > len(contigs) or (done and contigs[done - 1] != last):
            raise InputError(f"{self.state_path}: cannot resume: its contigs do not match the input; "
                             "rerun without --resume")
        cursor = tuple(state.get("cursor", (0, 0)))
        if state.get("complete") and all(p.exists() for p in self.final.values()):
            return ResumePoint(done, cursor, complete=True)
        offsets = state.get("offsets", {})
        for key, path in self.partial.items():
            size = path.stat().st_size if path.exists() else -1
            if key not in offsets or size < offsets[key]:
                raise InputError(f"{path}: cannot resume: partial file missing or shorter than recorded; "
                                 "rerun without --resume")
        self._files = {}
        for key, path in self.partial.items():
            fh = open(path, "r+b")
            fh.truncate(offsets[key])
            fh.seek(offsets[key])
            self._files[key] = fh
        self._done, self._last, self._cursor = done, last, cursor
        self._offsets = {key: int(offsets[key]) for key in self.partial}
        return ResumePoint(done, cursor)

    # ------------------------------------------------------------------ writing
    def write(self, key: str, data: bytes) -> None:
        if data:
            self._files[key].write(data)

    def contig_done(self, contig: str, cursor: tuple[int, int], force_state: bool = False) -> None:
        """Record that ``contig`` (the next in file order) is complete; the state is written at most every
        STATE_INTERVAL_S seconds (a resumed run then redoes the few contigs after it)."""
        self._done += 1
        self._last, self._cursor = contig, cursor
        self._offsets = {key: fh.tell() for key, fh in self._files.items()}
        if force_state or time.monotonic() - self._last_state_write >= STATE_INTERVAL_S:
            self._write_state(complete=False)

    def complete(self) -> None:
        """Close the partial files and rename them to their final names; mark the state complete."""
        self._close()
        for key, path in self.partial.items():
            os.replace(path, self.final[key])
        self._offsets = {}
        self._write_state(complete=True)

    def close(self) -> None:
        """Close without finishing (after an error): the partial files and the state of the last complete contig
        stay for ``--resume``."""
        if self._files:
            self._write_state(complete=False)
        self._close()

    def _close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files = {}

    def _write_state(self, complete: bool) -> None:
        for fh in self._files.values():
            fh.flush()
        state = {
            "format": STATE_FORMAT,
            "fingerprint": self.fingerprint,
            "done": self._done,
            "last": self._last,
            "cursor": list(self._cursor),
            "offsets": self._offsets,
            "complete": complete,
            "files": {key: path.name for key, path in self.final.items()},
        }
        atomic_write_text(self.state_path, json.dumps(state, indent=1) + "\n")
        self._last_state_write = time.monotonic()


def _changed_keys(old: dict, new: dict, prefix: str = "") -> str:
    """Comma-separated dotted keys whose values differ between two nested dicts."""
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            inner = _changed_keys(a, b, f"{prefix}{key}.")
            if inner:
                keys.append(inner)
        elif a != b:
            keys.append(f"{prefix}{key}")
    return ", ".join(keys)
