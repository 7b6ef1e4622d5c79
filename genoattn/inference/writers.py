"""Turn model scores of one contig into output text: per-nucleotide tracks (bedGraph + BED calls) or window rows (TSV).

``ContigTracks`` receives the kept parts of a contig's windows in order, buffers them and processes fixed
chunks of ``CHUNK`` bases cut at fixed contig positions (so the text never depends on batch boundaries).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from genoattn.inference.tracks import BedGraphTrack, IntervalCaller, format_bed

CHUNK = 1 << 20  # bases processed together by the track writers

Write = Callable[[str, bytes], None]


@dataclass(frozen=True)
class TrackSettings:
    """What the per-nucleotide writers produce.

    Args:
        bedgraph: output key -> score channel of each bedGraph file.
        calls: (class name, score channel) of each class called into the BED file (empty: no BED).
        decimals: decimals of bedGraph values (equal rounded neighbours merge).
        threshold: a base is called when its score is >= threshold.
        merge_gap: calls separated by at most this many (unmasked) bases are merged.
        min_length: merged calls shorter than this are dropped.
    """

    bedgraph: dict[str, int]
    calls: tuple[tuple[str, int], ...]
    decimals: int = 3
    threshold: float = 0.5
    merge_gap: int = 0
    min_length: int = 1


class ContigTracks:
    """bedGraph lines and BED calls of one contig, written through ``write(key, bytes)`` (keys: those of
    ``settings.bedgraph`` and ``"bed"``)."""

    def __init__(self, contig: str, length: int, masked: np.ndarray, settings: TrackSettings, write: Write,
                 channels: int) -> None:
        self.contig, self.length, self.masked = contig, length, masked
        self.settings, self.write, self.channels = settings, write, channels
        self.tracks = {key: BedGraphTrack(contig, settings.decimals) for key in settings.bedgraph}
        self.callers = [IntervalCaller(settings.threshold, settings.merge_gap, settings.min_length)
                        for _ in settings.calls]
        self.names = tuple(name.encode() for name, _ in settings.calls)
        self._calls: list[tuple[np.ndarray, ...]] = []  # several classes: sorted at the end
        self._pieces: list[np.ndarray] = []
        self._pos = 0  # first base not yet processed
        self._end = 0  # end of the buffered pieces

    def add(self, start: int, stop: int, values: np.ndarray | None) -> None:
        """Scores [stop - start, channels] of bases [start, stop) (None: skipped, all masked)."""
        if start != self._end:
            raise RuntimeError(f"{self.contig}: got bases from {start}, expected {self._end}")
        if values is None:
            values = np.zeros((stop - start, self.channels), dtype=np.float32)
        self._pieces.append(values)
        self._end = stop
        if self._end // CHUNK > self._pos // CHUNK:
            self._drain(final=False)

    def finish(self) -> None:
        """Process the rest and write the held-back lines and calls."""
        if self._end != self.length:
            raise RuntimeError(f"{self.contig}: got scores up to {self._end} of {self.length} bases")
        self._drain(final=True)
        for key, track in self.tracks.items():
            self.write(key, track.finish())
        for index, caller in enumerate(self.callers):
            self._emit(index, caller.finish())
        if len(self.callers) > 1 and self._calls:
            begin, end, mean, name = (np.concatenate(parts) for parts in zip(*self._calls))
            order = np.lexsort((name, end, begin))
            self.write("bed", format_bed(self.contig, begin[order], end[order], mean[order], self.names, name[order]))

    def _drain(self, final: bool) -> None:
        if not self._pieces:
            return
        data = self._pieces[0] if len(self._pieces) == 1 else np.concatenate(self._pieces)
        cut = self._end if final else self._end // CHUNK * CHUNK
        for lo in range(self._pos, cut, CHUNK):
            hi = min(cut, lo + CHUNK)
            self._process(lo, hi, data[lo - self._pos: hi - self._pos])
        self._pieces = [data[cut - self._pos:]] if cut < self._end else []
        self._pos = cut

    def _process(self, lo: int, hi: int, values: np.ndarray) -> None:
        masked = self.masked[lo:hi]
        for key, channel in self.settings.bedgraph.items():
            self.write(key, self.tracks[key].add(lo, values[:, channel], masked))
        for index, ((_, channel), caller) in enumerate(zip(self.settings.calls, self.callers)):
            self._emit(index, caller.add(lo, values[:, channel], masked))

    def _emit(self, index: int, calls: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        begin, end, mean = calls
        if not len(begin):
            return
        name = np.full(len(begin), index, dtype=np.int64)
        if len(self.callers) == 1:
            self.write("bed", format_bed(self.contig, begin, end, mean, self.names, name))
        else:
            self._calls.append((begin, end, mean, name))


@dataclass(frozen=True)
class RowSettings:
    """Window-level TSV rows: column names of the values, how to write them, one row per window or per record."""

    columns: tuple[str, ...]
    decimals: int | None = 3  # fixed decimals (probabilities); None: 6 significant digits (regression)
    per_record: bool = False

    def header(self) -> bytes:
        return ("#contig\tstart\tend\tn_fraction\t" + "\t".join(self.columns) + "\n").encode()

    def format_values(self, values: np.ndarray) -> str:
        if self.decimals is None:
            return "\t".join(f"{v:.6g}" for v in values.tolist())
        return "\t".join(f"{v:.{self.decimals}f}" for v in values.tolist())


class ContigRows:
    """TSV rows of one contig: one per scored window, or one per record (mean over its windows, weighted by the
    bases of each window inside the contig; ``NA`` when every window was skipped as N)."""

    def __init__(self, contig: str, length: int, masked: np.ndarray, settings: RowSettings, write: Write) -> None:
        self.contig, self.length, self.masked = contig, length, masked
        self.settings, self.write = settings, write
        self._sum: np.ndarray | None = None
        self._weight = 0

    def add_window(self, start: int, stop: int, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if self.settings.per_record:
            self._sum = values * (stop - start) + (0 if self._sum is None else self._sum)
            self._weight += stop - start
            return
        n_fraction = float(self.masked[start:stop].mean()) if stop > start else 0.0
        line = f"{self.contig}\t{start}\t{stop}\t{n_fraction:.4f}\t{self.settings.format_values(values)}\n"
        self.write("tsv", line.encode())

    def finish(self) -> None:
        if not self.settings.per_record:
            return
        n_fraction = float(self.masked.mean()) if self.length else 0.0
        if self._sum is None:
            values = "\t".join("NA" for _ in self.settings.columns)
        else:
            values = self.settings.format_values(self._sum / self._weight)
        self.write("tsv", f"{self.contig}\t0\t{self.length}\t{n_fraction:.4f}\t{values}\n".encode())
