"""The stage after the model: keeps the central part of every window and feeds its region's writers, which
append to the partial output files; completes regions and inputs; inside long regions records resume points (at
most every ``outputs.STATE_INTERVAL_S``) where the track writers have just written a chunk.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from genoattn.inference.model import ModelInfo
from genoattn.inference.plan import Begin, End, InputEnd, Skip, Tile, Window
from genoattn.inference.regions import Region
from genoattn.inference.row_writer import ContigRows, RowSettings
from genoattn.inference.runner import score_channels
from genoattn.inference.runs import InputRun
from genoattn.inference.track_writer import ContigTracks, TrackSettings


class Stitcher:
    """Executes batch segments: routes scores to region writers, completes regions and inputs, records resume
    points inside long regions.

    Args:
        runs: the inputs.
        track_settings, row_settings: what the per-nucleotide / window-level writers produce (one is None).
        channels: score channels per base (token-level models).
        on_contig_done: called with (input index, region name) after each region is recorded.
        progress: a tqdm bar advanced by bases.
        read_masked: (run, region) -> N mask, for Begin segments that carry none (the multi-device path).
    """

    def __init__(self, runs: list[InputRun], info: ModelInfo, tracks: TrackSettings | None, rows: RowSettings | None,
                 on_contig_done: Callable[[int, str], None] | None = None, progress=None,
                 read_masked: Callable[[InputRun, Region], np.ndarray] | None = None) -> None:
        self.runs = {run.index: run for run in runs}
        self.tracks, self.rows, self.channels = tracks, rows, score_channels(info)
        self.on_contig_done, self.progress, self.read_masked = on_contig_done, progress, read_masked
        self.write_seconds = 0.0
        self._run: InputRun | None = None
        self._region: Region | None = None
        self._contig: ContigTracks | ContigRows | None = None
        self._recent: list[Tile] = []  # tiles whose kept part is not all processed yet
        self._started = time.perf_counter()

    def __call__(self, scores: np.ndarray | None, segments: list) -> None:
        t0 = time.perf_counter()
        for seg in segments:
            if isinstance(seg, Tile):
                assert scores is not None  # a batch with tiles went through the model
                self._tracks().add(seg.start, seg.stop, scores[seg.row, seg.start - seg.offset: seg.stop - seg.offset])
                self._advance(seg.stop - seg.start)
                self._recent.append(seg)
                self._save_inside_tracks(force_trim=len(self._recent) > 256)
            elif isinstance(seg, Skip):
                self._tracks().add(seg.start, seg.stop, None)
                self._advance(seg.stop - seg.start)
            elif isinstance(seg, Window):
                assert scores is not None  # a batch with windows went through the model
                self._save_inside_rows(seg)
                self._rows().add_window(seg.start, seg.stop, scores[seg.row])
            elif isinstance(seg, Begin):
                self._begin(seg)
            elif isinstance(seg, End):
                self._end(seg)
            elif isinstance(seg, InputEnd):
                run = self.runs[seg.input]
                run.output_files.complete()
                run.seconds = time.perf_counter() - self._started
                self._started = time.perf_counter()
        self.write_seconds += time.perf_counter() - t0

    def _advance(self, bases: int) -> None:
        if self.progress is not None:
            self.progress.update(bases)

    def _tracks(self) -> ContigTracks:
        """The open region's per-nucleotide writer (Tile and Skip segments come between its Begin and End)."""
        assert isinstance(self._contig, ContigTracks)
        return self._contig

    def _rows(self) -> ContigRows:
        """The open region's window-level writer (Window segments come between its Begin and End)."""
        assert isinstance(self._contig, ContigRows)
        return self._contig

    def _current(self) -> tuple[InputRun, Region]:
        """The input and region of the last Begin segment."""
        assert self._run is not None and self._region is not None
        return self._run, self._region

    def _begin(self, seg: Begin) -> None:
        run = self._run = self.runs[seg.input]
        region = self._region = seg.region
        masked = seg.masked
        if masked is None:
            assert self.read_masked is not None  # Begin segments without their N mask come with read_masked
            masked = self.read_masked(run, region)
        write = run.output_files.write
        if self.tracks is not None:
            self._contig = ContigTracks(region.contig, region.start, region.end, masked, self.tracks, write,
                                        self.channels)
        else:
            assert self.rows is not None  # one of tracks and rows is set
            self._contig = ContigRows(region.contig, region.start, region.end, masked, self.rows, write)
        if seg.restore is not None:
            self._contig.restore(seg.restore)
        self._recent = []

    def _save_inside_tracks(self, force_trim: bool = False) -> None:
        """Where the track writers have processed a chunk, record the point and the window to restart from."""
        run, region = self._current()
        due = run.output_files.state_due()
        if not (due or force_trim):
            return
        position = self._tracks().position
        self._recent = [tile for tile in self._recent if tile.stop > position]
        if not due:
            return
        first = self._recent[0] if self._recent else None
        if first is not None and first.start <= position:
            run.output_files.save_inside(region.name, position, first.offset, (first.row, first.length),
                                         self._tracks().state())

    def _save_inside_rows(self, seg: Window) -> None:
        """Before a window's row: every earlier row is written; record the point."""
        run, region = self._current()
        if run.output_files.state_due():
            run.output_files.save_inside(region.name, seg.start, seg.start, (seg.row, seg.length),
                                         self._rows().state())

    def _end(self, seg: End) -> None:
        run, region = self._current()
        assert self._contig is not None  # the region's Begin opened it
        self._contig.finish()
        if self.tracks is None:
            self._advance(len(region))
        run.output_files.region_done(region.name, seg.cursor)
        self._contig, self._recent = None, []
        if self.on_contig_done is not None:
            self.on_contig_done(run.index, region.name)
