"""Batch plans: windows of consecutive regions (whole contigs unless ``--regions`` chose parts) grouped into
batches, with the instructions that route each window's scores to its region's writer.

A batch holds windows of one length (a length change starts a new batch) and never spans two inputs. Its
``segments`` are executed in order by the writer side: ``Begin`` a region, ``Tile`` (keep part of a row's
per-base scores), ``Skip`` (bases inside N runs, no model call), ``Window`` (a row's window-level scores),
``End`` the region. The layout is a pure function of the window stream and of the starting ``cursor`` (rows
already in the open batch and their length), which the resume state records at each region end (and at points
inside long regions: a window's row and length): a resumed run puts that many dummy rows first and so batches
every later window exactly as the interrupted run did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genoattn.inference.regions import Region


@dataclass
class Begin:
    input: int
    region: Region
    masked: np.ndarray | None = None  # bool [len(region)]; None: the writer side reads the region itself
    restore: dict | None = None  # the writer state of an interrupted run to continue from (resume inside a region)


@dataclass
class Tile:
    row: int
    start: int  # kept bases [start, stop) of the contig
    stop: int
    offset: int  # contig position of the row's first base
    length: int  # bases per row of its batch (with ``row``: the batch layout before this window)


@dataclass
class Skip:
    start: int
    stop: int


@dataclass
class Window:
    row: int
    start: int
    stop: int
    length: int  # bases per row of its batch


@dataclass
class End:
    cursor: tuple[int, int]  # batch layout after this region: (rows in the open batch, their length)


@dataclass
class InputEnd:
    input: int


Segment = Begin | Tile | Skip | Window | End | InputEnd


@dataclass
class PlannedBatch:
    """Rows (a source per window, None for a dummy row of PAD) of one length, and the segments to run after it."""

    length: int
    rows: list[Any] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    @property
    def real_rows(self) -> int:
        return sum(r is not None for r in self.rows)


class BatchPlanner:
    """Groups windows into batches of ``batch_size`` rows (see the module doc)."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._open = PlannedBatch(0)

    @property
    def cursor(self) -> tuple[int, int]:
        return len(self._open.rows), self._open.length

    def start_input(self, cursor: tuple[int, int] = (0, 0)) -> list[PlannedBatch]:
        """Close the open batch; start the next input with ``cursor[0]`` dummy rows of length ``cursor[1]``."""
        done = self.flush()
        rows, length = cursor
        self._open = PlannedBatch(int(length), [None] * int(rows))
        return done

    def row(self, length: int, source: Any, segment_for_row) -> list[PlannedBatch]:
        """Add a window (``segment_for_row(row index)`` makes its segment); return batches that became full."""
        done = []
        if self._open.rows and length != self._open.length:
            done = self.flush()
        if not self._open.rows:
            self._open.length = length
        self._open.segments.append(segment_for_row(len(self._open.rows)))
        self._open.rows.append(source)
        if len(self._open.rows) >= self.batch_size:
            done += self.flush()
        return done

    def note(self, segment: Segment) -> None:
        self._open.segments.append(segment)

    def flush(self) -> list[PlannedBatch]:
        batch = self._open
        self._open = PlannedBatch(0)
        return [batch] if batch.rows or batch.segments else []
