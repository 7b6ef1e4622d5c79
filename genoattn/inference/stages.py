"""The stages on either side of the model: the producer (read, encode, mask, tile, batch) and the writer (route
scores to each region's writers, record progress for ``--resume``).

The producer reads each region (with its context) once (pyfaidx), encodes it with the vectorised lookup table,
masks N runs, tiles it and fills batches of token ids (pinned memory on CUDA); the next region is read in a
helper thread while this one is tiled. The writer keeps the central part of every window and feeds the region's
writers, which append to the partial output files; inside long regions it records resume points (at most every
``outputs.STATE_INTERVAL_S``) where the track writers have just written a chunk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from genoattn.data.genome import Genome
from genoattn.data.tokenizers import build_tokenizer, encode_nucleotides
from genoattn.inference.model import ModelInfo
from genoattn.inference.outputs import OutputFiles, ResumePoint
from genoattn.inference.plan import BatchPlanner, Begin, End, InputEnd, PlannedBatch, Skip, Tile, Window
from genoattn.inference.regions import Region
from genoattn.inference.runner import score_channels
from genoattn.inference.tiling import Geometry, Tiles, masked_counts, n_mask, pad_ids, region_tiles, resume_tiles
from genoattn.inference.writers import ContigRows, ContigTracks, RowSettings, TrackSettings

_TORCH_DTYPES = {np.dtype(np.uint8): torch.uint8, np.dtype(np.int16): torch.int16, np.dtype(np.int32): torch.int32}


@dataclass
class InputRun:
    """One input file of a run: its genome, regions, output files (None: results stay in memory), resume point."""

    index: int
    path: Path
    genome: Genome
    stem: str
    outputs: OutputFiles | None
    regions: list[Region]
    resume: ResumePoint = field(default_factory=ResumePoint)
    seconds: float = 0.0

    @property
    def todo(self) -> list[Region]:
        return [] if self.resume.complete else self.regions[self.resume.done:]

    def bases_todo(self) -> int:
        """Bases still to predict (a region resumed inside counts from its resume point)."""
        todo = self.todo
        bases = sum(len(region) for region in todo)
        if todo and self.resume.partial is not None:
            bases -= int(self.resume.partial["position"]) - todo[0].start
        return bases


@dataclass
class HostBatch:
    tokens: torch.Tensor | None  # [rows, T] token ids (None: no real row, nothing to compute)
    segments: list


@dataclass
class _Read:
    """A region read and tiled: first base read, tiles (contig coordinates), ids and N mask of [lo, hi)."""

    lo: int
    tiles: Tiles
    ids: np.ndarray
    masked: np.ndarray


class Producer:
    """Reads, encodes, masks and tiles regions; yields HostBatches (see the module doc)."""

    def __init__(self, runs: list[InputRun], info: ModelInfo, geometry: Geometry, options, pin: bool,
                 pad_batches: bool) -> None:
        self.runs, self.info, self.geometry, self.options = runs, info, geometry, options
        self.pin, self.pad_batches = pin, pad_batches
        self.tokenizer = build_tokenizer(info.tokenizer, info.k)
        self.read_seconds = 0.0

    def __iter__(self) -> Iterator[HostBatch]:
        """Batches in order; the next region is read and encoded in a helper thread while this one is tiled."""
        jobs = [(run, region, run.resume.partial if i == 0 else None)
                for run in self.runs for i, region in enumerate(run.todo)]
        planner = BatchPlanner(self.options.batch_size)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="genoattn-predict-fetch") as pool:
            ahead = pool.submit(self._read, *jobs[0]) if jobs else None
            position = 0
            for run in self.runs:
                if run.resume.complete:
                    continue
                yield from self._materialise(planner.start_input(run.resume.cursor))
                for i, region in enumerate(run.todo):
                    read = ahead.result()
                    position += 1
                    ahead = pool.submit(self._read, *jobs[position]) if position < len(jobs) else None
                    inside = run.resume.partial if i == 0 else None
                    yield from self._materialise(self._region(planner, run, region, read, inside))
                planner.note(InputEnd(run.index))
                yield from self._materialise(planner.flush())

    def _read(self, run: InputRun, region: Region, inside: dict | None) -> _Read:
        t0 = time.perf_counter()
        lo, hi, tiles = region_tiles(region.start, region.end, region.length, self.geometry, self.info.token_level)
        if inside is not None:
            tiles = resume_tiles(tiles, int(inside["window"]), int(inside["position"]))
        if len(tiles):  # windows see real sequence wherever the contig has it (PAD only past its end)
            hi = max(hi, min(region.length, int(tiles.start[-1]) + tiles.length))
        ids = encode_nucleotides(run.genome.fetch(region.contig, lo, hi)) if hi > lo else np.zeros(0, np.uint8)
        masked = n_mask(ids, self.options.min_n_run)
        self.read_seconds += time.perf_counter() - t0
        return _Read(lo, tiles, ids, masked)

    def _region(self, planner: BatchPlanner, run: InputRun, region: Region, read: _Read,
                inside: dict | None) -> list[PlannedBatch]:
        lo, tiles, masked = read.lo, read.tiles, read.masked
        planner.note(Begin(run.index, region, masked[region.start - lo: region.end - lo],
                           inside["writer"] if inside is not None else None))
        done: list[PlannedBatch] = []
        if len(tiles):
            n = tiles.length
            ids = pad_ids(read.ids, int(tiles.start[-1]) - lo + n)
            counts = masked_counts(masked, tiles.keep_start - lo, tiles.keep_end - lo)
            for s, ks, ke, c in zip(tiles.start.tolist(), tiles.keep_start.tolist(), tiles.keep_end.tolist(),
                                    counts.tolist()):
                source = ids[s - lo: s - lo + n]
                if not self.info.token_level:
                    if c < ke - ks:  # windows entirely inside N runs get no row
                        done += planner.row(n, source, lambda r, s=s, e=ke: Window(r, s, e, n))
                elif c == ke - ks:
                    planner.note(Skip(ks, ke))
                else:
                    done += planner.row(n, source, lambda r, s=s, ks=ks, ke=ke: Tile(r, ks, ke, s, n))
        planner.note(End(planner.cursor))
        return done

    def _materialise(self, batches: list[PlannedBatch]) -> Iterator[HostBatch]:
        for batch in batches:
            yield self.tokens(batch)

    def tokens(self, batch: PlannedBatch) -> HostBatch:
        if not batch.real_rows:
            return HostBatch(None, batch.segments)
        rows = len(batch.rows)
        if self.pad_batches and batch.length == self.geometry.window:  # (short contigs vary in length anyway)
            rows = max(rows, self.options.batch_size)
        width = batch.length // self.info.k
        tokens = torch.zeros((rows, width), dtype=_TORCH_DTYPES[np.dtype(self.tokenizer.dtype)], pin_memory=self.pin)
        view = tokens.numpy()
        for i, source in enumerate(batch.rows):
            if source is not None:
                view[i] = self.tokenizer.encode_nucleotides(source)
        return HostBatch(tokens, batch.segments)


class Writer:
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
                self._contig.add(seg.start, seg.stop, scores[seg.row, seg.start - seg.offset: seg.stop - seg.offset])
                self._advance(seg.stop - seg.start)
                self._recent.append(seg)
                self._save_inside_tracks(force_trim=len(self._recent) > 256)
            elif isinstance(seg, Skip):
                self._contig.add(seg.start, seg.stop, None)
                self._advance(seg.stop - seg.start)
            elif isinstance(seg, Window):
                self._save_inside_rows(seg)
                self._contig.add_window(seg.start, seg.stop, scores[seg.row])
            elif isinstance(seg, Begin):
                self._begin(seg)
            elif isinstance(seg, End):
                self._end(seg)
            elif isinstance(seg, InputEnd):
                run = self.runs[seg.input]
                run.outputs.complete()
                run.seconds = time.perf_counter() - self._started
                self._started = time.perf_counter()
        self.write_seconds += time.perf_counter() - t0

    def _advance(self, bases: int) -> None:
        if self.progress is not None:
            self.progress.update(bases)

    def _begin(self, seg: Begin) -> None:
        run = self._run = self.runs[seg.input]
        region = self._region = seg.region
        masked = seg.masked if seg.masked is not None else self.read_masked(run, region)
        write = run.outputs.write
        if self.tracks is not None:
            self._contig = ContigTracks(region.contig, region.start, region.end, masked, self.tracks, write,
                                        self.channels)
        else:
            self._contig = ContigRows(region.contig, region.start, region.end, masked, self.rows, write)
        if seg.restore is not None:
            self._contig.restore(seg.restore)
        self._recent = []

    def _save_inside_tracks(self, force_trim: bool = False) -> None:
        """Where the track writers have processed a chunk, record the point and the window to restart from."""
        due = self._run.outputs.state_due()
        if not (due or force_trim):
            return
        position = self._contig.position
        self._recent = [tile for tile in self._recent if tile.stop > position]
        if not due:
            return
        first = self._recent[0] if self._recent else None
        if first is not None and first.start <= position:
            self._run.outputs.save_inside(self._region.name, position, first.offset, (first.row, first.length),
                                          self._contig.state())

    def _save_inside_rows(self, seg: Window) -> None:
        """Before a window's row: every earlier row is written; record the point."""
        if self._run.outputs.state_due():
            self._run.outputs.save_inside(self._region.name, seg.start, seg.start, (seg.row, seg.length),
                                          self._contig.state())

    def _end(self, seg: End) -> None:
        self._contig.finish()
        if self.tracks is None:
            self._advance(len(self._region))
        self._run.outputs.region_done(self._region.name, seg.cursor)
        self._contig, self._recent = None, []
        if self.on_contig_done is not None:
            self.on_contig_done(self._run.index, self._region.name)
