"""Output files of one input, written so that an interrupted run never leaves a finished-looking file.

Each output is appended to a hidden partial file in the output folder (``.NAME.partial``) region by region
(a region is a whole contig unless ``--regions`` chose parts), and renamed to ``NAME`` when every region is
done (a bigWig's partial file holds its values; the bigWig is built beside it: genoattn.inference.bigwig). A
state file ``STEM.state.json`` (written atomically) records the fingerprint of the run (checkpoint, input,
options), how many regions are complete (in order, so a count and the last name identify them), the
partial files' sizes after that region and the batch layout at that point; and, inside a long region, a
``partial`` point: the first base not yet written, the window to restart from, the batch layout there and the
writers' held-back values. ``--resume`` truncates the partial files to the recorded sizes (dropping anything
half-written), skips the complete regions, continues a partial one from its point, with the same batch
layout, so the finished files are byte-identical to those of an uninterrupted run.

Write errors (a full disk) raise one InputError line; what was written up to the last recorded point stays
valid for ``--resume``. The folder itself is checked and locked by genoattn.inference.folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from genoattn.atomic import atomic_write_text
from genoattn.errors import InputError

STATE_FORMAT = 1
STATE_INTERVAL_S = 0.5  # least time between two state writes (the last region always writes)

READ_BLOCK = 1 << 24  # bytes of a partial file read at a time when a builder replays it

Write = Callable[[str, bytes], None]  # OutputFiles.write: (output key, bytes to append)


class Builder(Protocol):
    """Builds an output file from the bytes appended to its partial file (genoattn.inference.bigwig.BigWigBuilder);
    its methods raise OSError when writing fails."""

    def open(self, target: Path, recorded: Iterable[bytes] = ()) -> None:
        """Start ``target`` and add the bytes the partial file already holds."""

    def add(self, data: bytes) -> None:
        """Bytes just appended to the partial file."""

    def finish(self) -> None:
        """Complete ``target`` once every byte was added."""

    def abort(self) -> None:
        """Drop the unfinished ``target``; never raises."""


def file_fingerprint(path: str | Path) -> dict[str, Any]:
    """Identity of a file for resume checks: absolute path, size, modification time."""
    p = Path(path).resolve()
    st = p.stat()
    return {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def write_error(path: Path, exc: OSError) -> InputError:
    """One line for a failed write (a full disk, a quota, a removed folder)."""
    return InputError(f"{path}: cannot write ({exc.strerror or exc}); what was finished is kept: free space and "
                      "rerun with --resume to continue")


@dataclass
class ResumePoint:
    """Where an input's run starts: regions already complete, the batch layout after the last of them, and the
    point inside the next region to continue from (None: its start)."""

    done: int = 0
    cursor: tuple[int, int] = (0, 0)
    complete: bool = False
    partial: dict | None = None  # {"name", "position", "window", "cursor", "writer", "offsets"}


class OutputFiles:
    """The output files of one input (see the module doc).

    Args:
        out_dir: output folder (checked writable).
        stem: name of the state file (``STEM.state.json``).
        names: output key -> final file name.
        headers: output key -> bytes written at the top of a fresh file.
        fingerprint: JSON-able identity of the run; ``--resume`` refuses a state with another one.
        builders: output key -> the Builder of outputs whose partial file is not the final file itself (a
            bigWig's values): it writes ``.NAME.building``, renamed to ``NAME`` when complete; the other partial
            files are renamed themselves.
    """

    def __init__(self, out_dir: Path, stem: str, names: dict[str, str], headers: dict[str, bytes],
                 fingerprint: dict[str, Any], builders: dict[str, Builder] | None = None) -> None:
        self.out_dir, self.stem = out_dir, stem
        self.final = {key: out_dir / name for key, name in names.items()}
        self.partial = {key: out_dir / f".{name}.partial" for key, name in names.items()}
        self.building = {key: out_dir / f".{names[key]}.building" for key in builders or {}}
        self.headers = headers
        self.builders = builders or {}
        self.fingerprint = fingerprint
        self.state_path = out_dir / f"{stem}.state.json"
        self._files: dict[str, BinaryIO] = {}
        # the last region boundary: regions complete, last name, batch cursor, partial file sizes
        self._done, self._last, self._cursor = 0, "", (0, 0)
        self._offsets: dict[str, int] = {}
        self._inside: dict | None = None  # the last point saved inside a region
        self._last_state_write = 0.0

    # ------------------------------------------------------------------ starting
    def start(self, resume: bool, regions: list[str]) -> ResumePoint:
        """Open the partial files: fresh, or (``resume``) where the state file says the last run stopped;
        ``regions``: the names of the input's regions, in order."""
        if resume:
            point = self._resume_point(regions)
            if point is not None:
                return point
        try:
            for path in self.partial.values():
                path.unlink(missing_ok=True)
            self._files = {key: open(path, "wb") for key, path in self.partial.items()}
            for key, header in self.headers.items():
                self._files[key].write(header)
            for key, builder in self.builders.items():
                builder.open(self.building[key])
        except OSError as exc:
            raise write_error(self.out_dir, exc) from None
        self._done, self._last, self._cursor, self._inside = 0, "", (0, 0), None
        self._offsets = {key: fh.tell() for key, fh in self._files.items()}
        self._write_state(complete=False)
        return ResumePoint()

    def _resume_point(self, regions: list[str]) -> ResumePoint | None:
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
        if done > len(regions) or (done and regions[done - 1] != last):
            raise InputError(f"{self.state_path}: cannot resume: its contigs do not match the input; "
                             "rerun without --resume")
        cursor = tuple(state.get("cursor", (0, 0)))
        if state.get("complete") and all(p.exists() for p in self.final.values()):
            return ResumePoint(done, cursor, complete=True)
        offsets = state.get("offsets", {})
        inside = state.get("partial")
        if inside is not None and done < len(regions) and inside.get("name") == regions[done]:
            offsets, cursor = inside["offsets"], tuple(inside["cursor"])
        else:
            inside = None
        for key, path in self.partial.items():
            size = path.stat().st_size if path.exists() else -1
            if key not in offsets or size < offsets[key]:
                raise InputError(f"{path}: cannot resume: partial file missing or shorter than recorded; "
                                 "rerun without --resume")
        self._files = {}
        try:
            for key, path in self.partial.items():
                fh = open(path, "r+b")
                fh.truncate(offsets[key])
                fh.seek(offsets[key])
                self._files[key] = fh
            for key, builder in self.builders.items():
                builder.open(self.building[key], _read_blocks(self.partial[key], int(offsets[key])))
        except OSError as exc:
            raise write_error(self.out_dir, exc) from None
        self._done, self._last, self._cursor = done, last, cursor
        self._offsets = {key: int(offsets[key]) for key in self.partial}
        self._inside = inside
        return ResumePoint(done, cursor, partial=inside)

    # ------------------------------------------------------------------ writing
    def write(self, key: str, data: bytes) -> None:
        """Append ``data`` to output ``key``'s partial file (and pass it to its builder)."""
        if data:
            try:
                self._files[key].write(data)
                if key in self.builders:
                    self.builders[key].add(data)
            except OSError as exc:
                raise write_error(self.partial[key], exc) from None

    def region_done(self, name: str, cursor: tuple[int, int]) -> None:
        """Record that region ``name`` (the next in order) is complete; the state is written at most every
        STATE_INTERVAL_S seconds (a resumed run then redoes what came after the last write)."""
        self._done += 1
        self._last, self._cursor, self._inside = name, cursor, None
        self._offsets = self._tell()
        if self.state_due():
            self._write_state(complete=False)

    def state_due(self) -> bool:
        """True when STATE_INTERVAL_S has passed since the state was last written."""
        return time.monotonic() - self._last_state_write >= STATE_INTERVAL_S

    def save_inside(self, name: str, position: int, window: int, cursor: tuple[int, int], writer: dict) -> None:
        """Record a point inside region ``name``: every base before ``position`` is written (but for the writer's
        held-back values ``writer``); a resumed run restarts at the window starting at ``window``, batched after
        ``cursor`` = (rows already in its batch, their length)."""
        self._inside = {"name": name, "position": int(position), "window": int(window),
                        "cursor": [int(cursor[0]), int(cursor[1])], "writer": writer, "offsets": self._tell()}
        self._write_state(complete=False)

    def complete(self) -> None:
        """Close the partial files and finish the built files (all before any rename, so a failure leaves every
        partial file for ``--resume``); rename them to their final names; mark the state complete, then remove
        the partial files the built ones came from."""
        self._close()
        ready = {key: self.building.get(key, path) for key, path in self.partial.items()}
        try:
            for builder in self.builders.values():
                builder.finish()
            for key, path in ready.items():
                os.replace(path, self.final[key])
        except OSError as exc:
            self._abort_builders()
            raise write_error(self.out_dir, exc) from None
        self._offsets, self._inside = {}, None
        self._write_state(complete=True)
        for key in self.builders:
            self.partial[key].unlink(missing_ok=True)

    def close(self) -> None:
        """Close without finishing (after an error): the partial files and the last recorded state stay for
        ``--resume``. Never raises: after a write error (a full disk) the state file already on disk is kept."""
        with contextlib.suppress(OSError, InputError):
            if self._files:
                self._write_state(complete=False)
        for fh in self._files.values():
            with contextlib.suppress(OSError):
                fh.close()
        self._files = {}
        self._abort_builders()

    def _abort_builders(self) -> None:
        for builder in self.builders.values():
            builder.abort()

    def _tell(self) -> dict[str, int]:
        return {key: fh.tell() for key, fh in self._files.items()}

    def _close(self) -> None:
        try:
            for fh in self._files.values():
                fh.close()
        except OSError as exc:
            raise write_error(self.out_dir, exc) from None
        finally:
            self._files = {}

    def _write_state(self, complete: bool) -> None:
        state = {
            "format": STATE_FORMAT,
            "fingerprint": self.fingerprint,
            "done": self._done,
            "last": self._last,
            "cursor": list(self._cursor),
            "offsets": self._offsets,
            "partial": self._inside,
            "complete": complete,
            "files": {key: path.name for key, path in self.final.items()},
        }
        try:
            for fh in self._files.values():
                fh.flush()
            atomic_write_text(self.state_path, json.dumps(state, indent=1) + "\n")
        except OSError as exc:
            raise write_error(self.state_path, exc) from None
        self._last_state_write = time.monotonic()


def _read_blocks(path: Path, size: int) -> Iterator[bytes]:
    """The first ``size`` bytes of ``path`` in blocks of at most READ_BLOCK."""
    with open(path, "rb") as fh:
        while size > 0:
            block = fh.read(min(size, READ_BLOCK))
            if not block:
                return
            size -= len(block)
            yield block


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
