"""Per-nucleotide outputs of one contig (or region): the dense tracks (bigWig values or bedGraph text) and the
BED calls.

``ContigTracks`` receives the kept parts of a contig's (or a region's) windows in order, buffers them and
processes fixed chunks of ``CHUNK`` bases cut at fixed contig positions (so the text never depends on batch
boundaries). BED calls of several classes are written sorted by (start, end, class) as soon as no later call
can sort before them. Where a chunk ends, everything before it is written except a few held-back values
(``state()``), so a run interrupted inside a long contig resumes from there (``restore()``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genoattn.inference.bigwig import BigWigValues
from genoattn.inference.outputs import Write
from genoattn.inference.tracks import BedGraphTrack, IntervalCaller, format_bed

CHUNK = 1 << 20  # bases processed together by the track writers


@dataclass(frozen=True)
class TrackSettings:
    """What the per-nucleotide writers produce.

    Args:
        tracks: output key -> score channel of each per-nucleotide track file.
        calls: (class name, score channel) of each class called into the BED file (empty: no BED).
        decimals: decimals of track values (bedGraph: equal rounded neighbours merge into one line).
        threshold: a base is called when its score is >= threshold.
        merge_gap: calls separated by at most this many (unmasked) bases are merged.
        min_length: merged calls shorter than this are dropped.
        format: ``bigwig`` (values for genoattn.inference.bigwig) or ``bedgraph`` (text) tracks.
    """

    tracks: dict[str, int]
    calls: tuple[tuple[str, int], ...]
    decimals: int = 3
    threshold: float = 0.5
    merge_gap: int = 0
    min_length: int = 1
    format: str = "bigwig"

    def new_track(self, contig: str) -> BedGraphTrack | BigWigValues:
        """The writer of one track file for one contig."""
        return BigWigValues(self.decimals) if self.format == "bigwig" else BedGraphTrack(contig, self.decimals)


class ContigTracks:
    """Track values or lines and BED calls of bases ``[start, end)`` of one contig, written through
    ``write(key, bytes)`` (keys: those of ``settings.tracks`` and ``"bed"``); ``masked`` is bool [end - start]."""

    def __init__(self, contig: str, start: int, end: int, masked: np.ndarray, settings: TrackSettings, write: Write,
                 channels: int) -> None:
        self.contig, self.start, self.end, self.masked = contig, start, end, masked
        self.settings, self.write, self.channels = settings, write, channels
        self.tracks = {key: settings.new_track(contig) for key in settings.tracks}
        self.callers = [IntervalCaller(settings.threshold, settings.merge_gap, settings.min_length)
                        for _ in settings.calls]
        self.names = tuple(name.encode() for name, _ in settings.calls)
        self._held = np.zeros((0, 4))  # several classes: calls not yet written (start, end, mean, class)
        self._pieces: list[np.ndarray] = []
        self._pos = start  # first base not yet processed
        self._end = start  # end of the buffered pieces

    @property
    def position(self) -> int:
        """First base not yet processed: all text before it is written or held in ``state()``."""
        return self._pos

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
        if self._end != self.end:
            raise RuntimeError(f"{self.contig}: got scores up to {self._end} of [{self.start}, {self.end})")
        self._drain(final=True)
        for key, track in self.tracks.items():
            self.write(key, track.finish())
        for index, caller in enumerate(self.callers):
            self._emit(index, caller.finish())
        self._release(None)

    def state(self) -> dict:
        """What a resumed run needs besides the written text, at :attr:`position` (JSON-able)."""
        return {"position": self._pos, "tracks": {key: t.state() for key, t in self.tracks.items()},
                "callers": [c.state() for c in self.callers], "held": self._held.tolist()}

    def restore(self, state: dict) -> None:
        """Continue from ``state()`` of an interrupted run: the next ``add`` starts at its position."""
        self._pos = self._end = int(state["position"])
        self._pieces = []
        for key, track in self.tracks.items():
            track.restore(state["tracks"][key])
        for caller, caller_state in zip(self.callers, state["callers"]):
            caller.restore(caller_state)
        self._held = np.array(state["held"], dtype=np.float64).reshape(-1, 4)

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
        if not final:
            pending = [c.pending_start for c in self.callers if c.pending_start is not None]
            self._release(min([cut, *pending]))

    def _process(self, lo: int, hi: int, values: np.ndarray) -> None:
        masked = self.masked[lo - self.start: hi - self.start]
        for key, channel in self.settings.tracks.items():
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
            self._held = np.concatenate([self._held, np.stack([begin, end, mean, name], axis=1)])

    def _release(self, bound: int | None) -> None:
        """Several classes: write the held calls starting before ``bound`` (None: all), sorted; no later call can
        start before ``bound``, so the file stays sorted by (start, end, class)."""
        if not len(self._held):
            return
        ready = self._held[:, 0] < bound if bound is not None else np.ones(len(self._held), dtype=bool)
        calls, self._held = self._held[ready], self._held[~ready]
        order = np.lexsort((calls[:, 3], calls[:, 1], calls[:, 0]))
        calls = calls[order]
        if len(calls):
            self.write("bed", format_bed(self.contig, calls[:, 0].astype(np.int64), calls[:, 1].astype(np.int64),
                                         calls[:, 2], self.names, calls[:, 3].astype(np.int64)))
