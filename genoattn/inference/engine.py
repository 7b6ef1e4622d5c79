"""Batch prediction over FASTA files: read and tile contigs, run batches, stitch and write, resume.

Three stages overlap in three threads: a producer reads each contig once (pyfaidx), encodes it with the
vectorised lookup table, masks N runs, tiles it and fills batches of token ids (pinned memory on CUDA); the
main thread runs the model (bf16 autocast on CUDA, scores copied back without waiting); a writer thread
waits for each batch's scores, keeps the central part of every window and feeds the contig's writers, which
append to the partial output files. Queues of ``prefetch`` batches bound the memory in flight.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genoattn import __version__
from genoattn.data.genome import Genome
from genoattn.data.tokenizers import build_tokenizer, encode_nucleotides
from genoattn.errors import ConfigError, InputError
from genoattn.inference.model import ModelInfo
from genoattn.inference.outputs import OutputFiles, ResumePoint, check_output_dir, file_fingerprint
from genoattn.inference.plan import BatchPlanner, Begin, End, InputEnd, PlannedBatch, Skip, Tile, Window
from genoattn.inference.runner import ModelRunner, PendingScores, resolve_device, score_channels
from genoattn.inference.tiling import (
    check_context,
    check_window,
    choose_context,
    masked_counts,
    n_mask,
    pad_ids,
    round_down,
    sequence_tiles,
    stitch_tiles,
)
from genoattn.inference.writers import ContigRows, ContigTracks, RowSettings, TrackSettings

log = logging.getLogger("genoattn.predict")

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas", ".fsa", ".ffn", ".seq", ".mfa", ".gb", ".gbk", ".gbff",
                  ".genbank")
COMPRESSION_SUFFIXES = (".gz", ".bgz", ".bgzf")
_TORCH_DTYPES = {np.dtype(np.uint8): torch.uint8, np.dtype(np.int16): torch.int16, np.dtype(np.int32): torch.int32}


@dataclass(frozen=True)
class PredictOptions:
    """Settings of a prediction run (the CLI flags of ``python -m genoattn.predict``).

    Args:
        window: nucleotides per model window (default: the checkpoint's training window).
        context: nucleotides of overlap kept out of each side of a window (default: the model's receptive field
            when it fits, see genoattn.inference.tiling.choose_context).
        stride: window-level models: bases between windows (default: the window, no overlap).
        batch_size: windows per model call.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``auto`` (bf16 autocast on CUDA, float32 on CPU), ``32``, ``bf16`` or ``16``.
        rc: average every window with its reverse complement.
        bedgraph: write per-nucleotide bedGraph tracks (token-level models).
        bed: write called intervals (token-level models).
        threshold: score at or above which a base is called.
        merge_gap: merge calls separated by at most this many bases.
        min_length: drop merged calls shorter than this.
        decimals: decimals of bedGraph (and TSV probability) values.
        min_n_run: runs of at least this many N are masked: no output, no calls, windows inside them skipped.
        pad_short: run contigs shorter than the window padded with PAD to the full window (True) or at their own
            length (False); None: as the model was trained (``ModelInfo.pad_short``).
        per_record: window-level models: one TSV row per record (mean over its windows) instead of per window.
        resume: continue an interrupted run in the same output folder.
        progress: show a progress bar (bases/s) on stderr.
        compile: torch.compile the model's blocks (experimental).
        prefetch: batches queued between the stages.
        pad_batches: pad every batch of full windows to ``batch_size`` rows (default: on CUDA, so that the
            model always sees the same shape: no recompilation, same kernels as in an interrupted run).
        cache_dir: genoattn cache for decompressed/indexed FASTA.
    """

    window: int | None = None
    context: int | None = None
    stride: int | None = None
    batch_size: int = 8
    device: str = "auto"
    precision: str = "auto"
    rc: bool = False
    bedgraph: bool = True
    bed: bool = True
    threshold: float = 0.5
    merge_gap: int = 0
    min_length: int = 1
    decimals: int = 3
    min_n_run: int = 1
    pad_short: bool | None = None
    per_record: bool = False
    resume: bool = False
    progress: bool = True
    compile: bool = False
    prefetch: int = 4
    pad_batches: bool | None = None
    cache_dir: str | None = None

    def check(self) -> None:
        def need(ok: bool, name: str, expected: str, value: object) -> None:
            if not ok:
                raise ConfigError(f"{name}: expected {expected}, got {value!r}")

        need(self.batch_size >= 1, "batch_size", "an integer >= 1", self.batch_size)
        need(0.0 <= self.threshold <= 1.0, "threshold", "a number in [0, 1]", self.threshold)
        need(self.merge_gap >= 0, "merge_gap", "an integer >= 0", self.merge_gap)
        need(self.min_length >= 1, "min_length", "an integer >= 1", self.min_length)
        need(0 <= self.decimals <= 8, "decimals", "an integer in [0, 8]", self.decimals)
        need(self.min_n_run >= 1, "min_n_run", "an integer >= 1", self.min_n_run)
        need(self.prefetch >= 1, "prefetch", "an integer >= 1", self.prefetch)
        need(self.window is None or self.window >= 1, "window", "a positive integer", self.window)
        need(self.context is None or self.context >= 0, "context", "an integer >= 0", self.context)
        need(self.stride is None or self.stride >= 1, "stride", "a positive integer", self.stride)


@dataclass(frozen=True)
class Geometry:
    """Window length, overlap on each side (stitched outputs) or stride (window outputs), and alignment."""

    window: int
    context: int
    stride: int
    align: int
    pad_short: bool = False  # contigs shorter than the window run padded to it (as trained), not at their length


def resolve_geometry(info: ModelInfo, options: PredictOptions) -> Geometry:
    """Window, context and stride from the options and the model (logs why when the context is inexact)."""
    align = info.align
    pad_short = info.pad_short if options.pad_short is None else options.pad_short
    window = options.window if options.window is not None else info.window
    if options.window is None and window % align:
        window = max(align, round_down(window, align))
    check_window(window, align)
    if not info.token_level:
        stride = options.stride if options.stride is not None else window
        return Geometry(window, 0, stride, align, pad_short)
    if options.context is None:
        context, warning = choose_context(window, align, info.receptive_field)
        if warning:
            log.warning("note: %s", warning)
    else:
        context = check_context(options.context, window, align)
        if info.receptive_field is not None and context < info.receptive_field:
            log.warning("note: --context %d is below the model's receptive field (%d nt): outputs near tile "
                        "borders can differ from a single pass", context, info.receptive_field)
    return Geometry(window, context, window - 2 * context, align, pad_short)


def output_stem(path: Path) -> str:
    """File name without compression and FASTA suffixes (``genome.fa.gz`` -> ``genome``)."""
    name = path.name
    for suffixes in (COMPRESSION_SUFFIXES, FASTA_SUFFIXES):
        for suffix in suffixes:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                break
    return re.sub(r"[^\w.+-]", "_", name)


def unique_stems(paths: list[Path]) -> list[str]:
    """One stem per input; repeated stems get ``_2``, ``_3`` ... in input order."""
    stems, seen = [], {}
    for path in paths:
        stem = output_stem(path)
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return stems


@dataclass
class InputRun:
    """One input file of a run: its genome, contigs, output files and resume point."""

    index: int
    path: Path
    genome: Genome
    stem: str
    outputs: OutputFiles
    contigs: list[tuple[str, int]]
    resume: ResumePoint = field(default_factory=ResumePoint)
    seconds: float = 0.0

    @property
    def todo(self) -> list[tuple[str, int]]:
        return [] if self.resume.complete else self.contigs[self.resume.done:]


def open_inputs(paths: list[str | Path], cache_dir: str | None = None) -> list[tuple[Path, Genome]]:
    """Open (and index) every input before any work; InputError for a bad file or one without sequence."""
    if not paths:
        raise InputError("no FASTA input given (expected at least one --fasta file)")
    opened = []
    for raw in paths:
        genome = Genome(raw, uppercase=False, cache_dir=cache_dir)
        if genome.total_length == 0:
            raise InputError(f"{genome.path}: no sequence ({len(genome)} records, all empty)")
        opened.append((genome.path, genome))
    return opened


def output_layout(info: ModelInfo, options: PredictOptions, stem: str) -> tuple[dict[str, str], dict[str, bytes]]:
    """Output key -> file name, and key -> header bytes, for one input."""
    names, headers = {}, {}
    classes = info.class_names
    if info.token_level:
        if options.bedgraph:
            channels = [(1, "")] if score_channels(info) == 1 else [(c, f".{n}") for c, n in enumerate(classes)]
            for c, suffix in channels:
                key = f"bedgraph{suffix}"
                names[key] = f"{stem}{suffix}.bedGraph"
                headers[key] = (f'track type=bedGraph name="{stem} {classes[c]}" description="genoattn '
                                f'{info.task}: probability of {classes[c]}"\n').encode()
        if options.bed:
            names["bed"] = f"{stem}.bed"
            headers["bed"] = (f'track name="{stem} calls" description="genoattn calls: probability >= '
                              f'{options.threshold}" useScore=1\n').encode()
    else:
        names["tsv"] = f"{stem}.tsv"
        columns = classes if info.task == "regression" else tuple(f"prob_{c}" for c in classes)
        headers["tsv"] = RowSettings(columns).header()
    return names, headers


def track_settings(info: ModelInfo, options: PredictOptions) -> TrackSettings:
    classes = info.class_names
    binary = score_channels(info) == 1
    bedgraph = {}
    if options.bedgraph:
        bedgraph = {"bedgraph": 0} if binary else {f"bedgraph.{n}": c for c, n in enumerate(classes)}
    calls: tuple[tuple[str, int], ...] = ()
    if options.bed:
        calls = ((classes[1], 0),) if binary else tuple((classes[c], c) for c in range(1, len(classes)))
    return TrackSettings(bedgraph, calls, options.decimals, options.threshold, options.merge_gap,
                         options.min_length)


def row_settings(info: ModelInfo, options: PredictOptions) -> RowSettings:
    classes = info.class_names
    if info.task == "regression":
        return RowSettings(classes, None, options.per_record)
    return RowSettings(tuple(f"prob_{c}" for c in classes), options.decimals, options.per_record)


def run_fingerprint(info: ModelInfo, options: PredictOptions, geometry: Geometry, device: torch.device,
                    path: Path, pad_batches: bool) -> dict[str, Any]:
    """What must not change between an interrupted run and its ``--resume`` (outputs and batch layout)."""
    kept = {k: v for k, v in asdict(options).items() if k not in ("resume", "progress", "prefetch", "cache_dir",
                                                                    "device", "window", "context", "stride")}
    checkpoint = file_fingerprint(info.source) if info.source and Path(info.source).is_file() else info.source
    return {
        "genoattn": __version__,
        "checkpoint": checkpoint,
        "input": file_fingerprint(path),
        "task": info.task,
        "geometry": asdict(geometry),
        "device": device.type,
        "pad_batches": pad_batches,
        "options": kept,
    }


# ---------------------------------------------------------------------------------------------- the stages


@dataclass
class HostBatch:
    tokens: torch.Tensor | None  # [rows, T] token ids (None: no real row, nothing to compute)
    segments: list


class Producer:
    """Reads, encodes, masks and tiles contigs; yields HostBatches (see the module doc)."""

    def __init__(self, runs: list[InputRun], info: ModelInfo, geometry: Geometry, options: PredictOptions,
                 pin: bool, pad_batches: bool) -> None:
        self.runs, self.info, self.geometry, self.options = runs, info, geometry, options
        self.pin, self.pad_batches = pin, pad_batches
        self.tokenizer = build_tokenizer(info.tokenizer, info.k)
        self.read_seconds = 0.0

    def __iter__(self) -> Iterator[HostBatch]:
        """Batches in order; the next contig is read and encoded in a helper thread while this one is tiled."""
        jobs = [(run, name, length) for run in self.runs for name, length in run.todo]
        planner = BatchPlanner(self.options.batch_size)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="genoattn-predict-fetch") as pool:
            ahead = pool.submit(self._read, *jobs[0]) if jobs else None
            position = 0
            for run in self.runs:
                if run.resume.complete:
                    continue
                yield from self._materialise(planner.start_input(run.resume.cursor))
                for name, length in run.todo:
                    ids, masked = ahead.result()
                    position += 1
                    ahead = pool.submit(self._read, *jobs[position]) if position < len(jobs) else None
                    yield from self._materialise(self._contig(planner, run, name, length, ids, masked))
                planner.note(InputEnd(run.index))
                yield from self._materialise(planner.flush())

    def _read(self, run: InputRun, name: str, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Nucleotide ids (uint8 [length]) and N-run mask of a whole contig."""
        t0 = time.perf_counter()
        ids = encode_nucleotides(run.genome.fetch(name, 0, length)) if length else np.zeros(0, np.uint8)
        masked = n_mask(ids, self.options.min_n_run)
        self.read_seconds += time.perf_counter() - t0
        return ids, masked

    def _contig(self, planner: BatchPlanner, run: InputRun, name: str, length: int, ids: np.ndarray,
                masked: np.ndarray) -> list[PlannedBatch]:
        planner.note(Begin(run.index, name, length, masked))
        done: list[PlannedBatch] = []
        g = self.geometry
        if length and self.info.token_level:
            tiles = stitch_tiles(length, g.window, g.context, g.align, g.pad_short)
            ids = pad_ids(ids, int(tiles.start[-1]) + tiles.length)
            skip = masked_counts(masked, tiles.keep_start, tiles.keep_end) == tiles.keep_end - tiles.keep_start
            for s, ks, ke, sk in zip(tiles.start.tolist(), tiles.keep_start.tolist(), tiles.keep_end.tolist(),
                                     skip.tolist()):
                if sk:
                    planner.note(Skip(ks, ke))
                else:
                    done += planner.row(tiles.length, ids[s: s + tiles.length],
                                        lambda r, s=s, ks=ks, ke=ke: Tile(r, ks, ke, s))
        elif length:
            tiles = sequence_tiles(length, g.window, g.stride, g.align, g.pad_short)
            ids = pad_ids(ids, int(tiles.start[-1]) + tiles.length)
            counts = masked_counts(masked, tiles.keep_start, tiles.keep_end)
            for s, e, c in zip(tiles.start.tolist(), tiles.keep_end.tolist(), counts.tolist()):
                if c < e - s:  # windows entirely inside N runs get no row
                    done += planner.row(tiles.length, ids[s: s + tiles.length],
                                        lambda r, s=s, e=e: Window(r, s, e))
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
    """Executes batch segments: routes scores to contig writers, completes contigs and inputs."""

    def __init__(self, runs: list[InputRun], info: ModelInfo, options: PredictOptions,
                 on_contig_done: Callable[[int, str], None] | None = None, progress=None,
                 read_masked: Callable[[InputRun, str, int], np.ndarray] | None = None) -> None:
        self.runs = {run.index: run for run in runs}
        self.info, self.options = info, options
        self.tracks = track_settings(info, options) if info.token_level else None
        self.rows = None if info.token_level else row_settings(info, options)
        self.channels = score_channels(info)
        self.on_contig_done, self.progress, self.read_masked = on_contig_done, progress, read_masked
        self.write_seconds = 0.0
        self._run: InputRun | None = None
        self._contig: ContigTracks | ContigRows | None = None
        self._name, self._length = "", 0
        self._started = time.perf_counter()

    def __call__(self, scores: np.ndarray | None, segments: list) -> None:
        t0 = time.perf_counter()
        for seg in segments:
            if isinstance(seg, Tile):
                self._contig.add(seg.start, seg.stop, scores[seg.row, seg.start - seg.offset: seg.stop - seg.offset])
                self._advance(seg.stop - seg.start)
            elif isinstance(seg, Skip):
                self._contig.add(seg.start, seg.stop, None)
                self._advance(seg.stop - seg.start)
            elif isinstance(seg, Window):
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
        masked = seg.masked if seg.masked is not None else self.read_masked(run, seg.contig, seg.length)
        self._name, self._length = seg.contig, seg.length
        if self.tracks is not None:
            self._contig = ContigTracks(seg.contig, seg.length, masked, self.tracks, run.outputs.write, self.channels)
        else:
            self._contig = ContigRows(seg.contig, seg.length, masked, self.rows, run.outputs.write)

    def _end(self, seg: End) -> None:
        self._contig.finish()
        if self.tracks is None:
            self._advance(self._length)
        self._run.outputs.contig_done(self._name, seg.cursor)
        self._contig = None
        if self.on_contig_done is not None:
            self.on_contig_done(self._run.index, self._name)


_END = object()


class _Stage(threading.Thread):
    """A daemon thread running ``body``; its exception is kept and stops the pipeline."""

    def __init__(self, name: str, body: Callable[[], None], stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.body, self.stop, self.error = body, stop, None

    def run(self) -> None:
        try:
            self.body()
        except BaseException as exc:  # noqa: BLE001  (re-raised by the main thread)
            self.error = exc
            self.stop.set()


def _put(q: queue.Queue, item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, stop: threading.Event) -> object:
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    return _END


def run_pipeline(batches: Iterator[HostBatch], runner: Callable[[torch.Tensor], PendingScores],
                 writer: Callable[[np.ndarray | None, list], None], prefetch: int = 2) -> dict[str, float]:
    """Producer thread -> model (this thread) -> writer thread; returns seconds spent in the model calls."""
    stop = threading.Event()
    to_model: queue.Queue = queue.Queue(maxsize=prefetch)
    to_writer: queue.Queue = queue.Queue(maxsize=prefetch)

    def produce() -> None:
        for batch in batches:
            if not _put(to_model, batch, stop):
                return
        _put(to_model, _END, stop)

    def write() -> None:
        while True:
            item = _get(to_writer, stop)
            if item is _END:
                return
            pending, segments = item
            writer(pending.get() if pending is not None else None, segments)

    producer = _Stage("genoattn-predict-read", produce, stop)
    consumer = _Stage("genoattn-predict-write", write, stop)
    producer.start()
    consumer.start()
    model_seconds = 0.0
    try:
        while True:
            batch = _get(to_model, stop)
            if batch is _END:
                break
            t0 = time.perf_counter()
            pending = runner(batch.tokens) if batch.tokens is not None else None
            model_seconds += time.perf_counter() - t0
            if not _put(to_writer, (pending, batch.segments), stop):
                break
        if not stop.is_set() and _put(to_writer, _END, stop):
            consumer.join()
    except BaseException:
        stop.set()
        raise
    finally:
        producer.join(timeout=5 if stop.is_set() else None)
        consumer.join(timeout=5)
    for stage in (consumer, producer):
        if stage.error is not None:
            raise stage.error
    return {"model_call_s": model_seconds}


# ---------------------------------------------------------------------------------------------- entry point


@dataclass
class RunReport:
    """What a run did: per input, bases predicted and seconds; overall bases/s and stage times."""

    inputs: list[dict[str, Any]]
    bases: int
    seconds: float
    stages: dict[str, float]

    @property
    def bases_per_second(self) -> float:
        return self.bases / self.seconds if self.seconds > 0 else 0.0


def prepare_runs(info: ModelInfo, fasta: list[str | Path], out_dir: str | Path, options: PredictOptions,
                 geometry: Geometry, device: torch.device, pad_batches: bool) -> list[InputRun]:
    """Check the output folder and inputs (before any work), then open each input's outputs (fresh or resumed)."""
    out = check_output_dir(out_dir)
    opened = open_inputs(fasta, options.cache_dir)
    stems = unique_stems([path for path, _ in opened])
    runs = []
    for index, ((path, genome), stem) in enumerate(zip(opened, stems)):
        names, headers = output_layout(info, options, stem)
        fingerprint = run_fingerprint(info, options, geometry, device, path, pad_batches)
        outputs = OutputFiles(out, stem, names, headers, fingerprint)
        contigs = list(genome.contigs.items())
        run = InputRun(index, path, genome, stem, outputs, contigs)
        run.resume = outputs.start(options.resume, [name for name, _ in contigs])
        if options.resume and run.resume.done:
            state = "already complete" if run.resume.complete else f"resuming after {run.resume.done} contigs"
            log.info("%s: %s", path, state)
        runs.append(run)
    return runs


def predict_files(net: nn.Module, info: ModelInfo, fasta: list[str | Path], out_dir: str | Path,
                  options: PredictOptions | None = None,
                  on_contig_done: Callable[[int, str], None] | None = None) -> RunReport:
    """Predict every contig of every FASTA file with ``net`` and write the outputs into ``out_dir``.

    ``on_contig_done(input_index, contig)`` is called after each contig's outputs are recorded (tests use it
    to interrupt a run). Raises InputError/ConfigError for bad inputs, before any model call.
    """
    options = options or PredictOptions()
    options.check()
    device = resolve_device(options.device)
    geometry = resolve_geometry(info, options)
    pad_batches = options.pad_batches if options.pad_batches is not None else device.type == "cuda"
    runs = prepare_runs(info, fasta, out_dir, options, geometry, device, pad_batches)
    try:
        return _execute(net, info, runs, options, geometry, device, pad_batches, on_contig_done)
    finally:
        for run in runs:
            run.outputs.close()


def _execute(net: nn.Module, info: ModelInfo, runs: list[InputRun], options: PredictOptions, geometry: Geometry,
             device: torch.device, pad_batches: bool, on_contig_done) -> RunReport:
    runner = ModelRunner(net, info, device, options.precision, options.rc, options.compile)
    producer = Producer(runs, info, geometry, options, pin=device.type == "cuda", pad_batches=pad_batches)
    total = sum(length for run in runs for _, length in run.todo)
    progress = _progress_bar(total, options.progress)
    writer = Writer(runs, info, options, on_contig_done, progress)
    t0 = time.perf_counter()
    try:
        stages = run_pipeline(iter(producer), runner, writer, options.prefetch)
    finally:
        if progress is not None:
            progress.close()
    seconds = time.perf_counter() - t0
    stages.update(read_s=producer.read_seconds, write_s=writer.write_seconds)
    inputs = [{"fasta": str(run.path), "outputs": [str(p) for p in run.outputs.final.values()],
               "contigs": len(run.todo), "bases": sum(n for _, n in run.todo), "seconds": run.seconds,
               "skipped_complete": run.resume.complete} for run in runs]
    return RunReport(inputs, total, seconds, stages)


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="bp", unit_scale=True, unit_divisor=1000, desc="predict", smoothing=0.1,
                dynamic_ncols=True)
