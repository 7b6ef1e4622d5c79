"""The stage before the model: reads, encodes, masks and tiles each region and fills batches of token ids.

The producer reads each region (with its context) once (pyfaidx), encodes it with the vectorised lookup table,
masks N runs, tiles it and fills batches of token ids (pinned memory on CUDA); the next region is read in a
helper thread while this one is tiled. The batch layout comes from genoattn.inference.plan.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from genoattn.data.tokenizers import build_tokenizer, encode_nucleotides
from genoattn.inference.model import ModelInfo
from genoattn.inference.plan import BatchPlanner, Begin, End, InputEnd, PlannedBatch, Skip, Tile, Window
from genoattn.inference.regions import Region
from genoattn.inference.runs import InputRun
from genoattn.inference.tiling import Geometry, Tiles, masked_counts, n_mask, pad_ids, region_tiles, resume_tiles

_TORCH_DTYPES = {np.dtype(np.uint8): torch.uint8, np.dtype(np.int16): torch.int16, np.dtype(np.int32): torch.int32}


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
                    assert ahead is not None  # one job per region to do, submitted in this order
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
