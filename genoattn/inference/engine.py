"""Batch prediction over FASTA files: options, inputs and their regions, outputs, and the run itself.

A run reads every input (or the ``--regions`` of it), tiles each region into overlapping windows, runs the
model on batches of them and stitches the central parts into per-nucleotide tracks (or window rows), with
three stages overlapping in three threads (genoattn.inference.pipeline, .stages). Outputs appear only when
complete; ``--resume`` continues an interrupted run, inside long contigs too (genoattn.inference.outputs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genoattn import __version__
from genoattn.data.genome import Genome
from genoattn.errors import ConfigError, InputError
from genoattn.inference.model import ModelInfo
from genoattn.inference.outputs import OutputFiles, file_fingerprint, output_folder
from genoattn.inference.pipeline import run_pipeline
from genoattn.inference.regions import RegionSpec, parse_regions, regions_per_input
from genoattn.inference.runner import ModelRunner, resolve_device, score_channels
from genoattn.inference.stages import InputRun, Producer, Writer
from genoattn.inference.tiling import Geometry, check_context, check_window, choose_context, round_down
from genoattn.inference.writers import RowSettings, TrackSettings

log = logging.getLogger("genoattn.predict")

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas", ".fsa", ".ffn", ".seq", ".mfa", ".gb", ".gbk", ".gbff",
                  ".genbank")
COMPRESSION_SUFFIXES = (".gz", ".bgz", ".bgzf")
NOT_DNA_FRACTION = 0.1  # an input with at least this share of letters outside IUPAC DNA is refused (protein?)
ALPHABET_SAMPLE = 4_000_000  # letters of each input checked for that, from its start


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
        regions: predict only these (``CONTIG``, ``CONTIG:START-END`` 1-based inclusive, or BED files); empty:
            every contig (genoattn.inference.regions).
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
    regions: tuple[str, ...] = ()

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

    def check_outputs(self, info: ModelInfo) -> None:
        """A per-nucleotide model must write something: not both --no-bedgraph and --no-bed (the command line
        checks this; the benchmark runs the pipeline without outputs on purpose)."""
        if info.token_level and not (self.bedgraph or self.bed):
            raise ConfigError("--no-bedgraph and --no-bed together leave nothing to write for a per-nucleotide "
                              "model (keep one of them)")


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


def check_dna(genome: Genome) -> None:
    """InputError when the input is not DNA (at least NOT_DNA_FRACTION of its first letters are outside the IUPAC
    nucleotide codes: a protein FASTA?); a note with the share when a few such letters are read as N."""
    found, seen = genome.non_dna_letters(ALPHABET_SAMPLE)
    bad = sum(found.values())
    if not bad or not seen:
        return
    letters = "".join(sorted(found, key=lambda c: -found[c])[:8])
    share = f"{bad / seen:.2%} of the first {seen:,} letters"
    if bad / seen >= NOT_DNA_FRACTION:
        raise InputError(f"{genome.path}: not DNA: {share} are not IUPAC nucleotide codes ({letters}); a protein "
                         "FASTA? genoattn predicts from DNA")
    log.warning("note: %s: %s are not IUPAC nucleotide codes (%s); they are read as N", genome.path, share, letters)


def open_inputs(paths: list[str | Path], cache_dir: str | None = None) -> list[tuple[Path, Genome]]:
    """Open (and index) every input before any work; InputError for a bad file, one without sequence or one that
    is not DNA."""
    if not paths:
        raise InputError("no FASTA input given (expected at least one --fasta file)")
    opened = []
    for raw in paths:
        genome = Genome(raw, uppercase=False, cache_dir=cache_dir)
        if genome.total_length == 0:
            raise InputError(f"{genome.path}: no sequence ({len(genome)} records, all empty)")
        check_dna(genome)
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
                    path: Path, pad_batches: bool, regions: list[str] | None = None) -> dict[str, Any]:
    """What must not change between an interrupted run and its ``--resume`` (outputs and batch layout);
    ``regions``: the names of the input's regions when --regions chose them."""
    kept = {k: v for k, v in asdict(options).items() if k not in ("resume", "progress", "prefetch", "cache_dir",
                                                                    "device", "window", "context", "stride")}
    checkpoint = file_fingerprint(info.source) if info.source and Path(info.source).is_file() else info.source
    fingerprint = {
        "genoattn": __version__,
        "checkpoint": checkpoint,
        "input": file_fingerprint(path),
        "task": info.task,
        "geometry": asdict(geometry),
        "device": device.type,
        "pad_batches": pad_batches,
        "options": kept,
        "regions": hashlib.sha256("\n".join(regions).encode()).hexdigest()[:16] if regions is not None else None,
    }
    return json.loads(json.dumps(fingerprint))  # as the state file holds it (tuples become lists)


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


def prepare_runs(info: ModelInfo, fasta: list[str | Path], out: Path, options: PredictOptions, geometry: Geometry,
                 device: torch.device, pad_batches: bool) -> list[InputRun]:
    """Check the inputs and regions (before any work), then open each input's outputs (fresh or resumed)."""
    opened = open_inputs(fasta, options.cache_dir)
    specs: list[RegionSpec] | None = parse_regions(options.regions) if options.regions else None
    per_input = regions_per_input(specs, [genome for _, genome in opened])
    stems = unique_stems([path for path, _ in opened])
    runs = []
    for index, ((path, genome), stem, regions) in enumerate(zip(opened, stems, per_input)):
        names, headers = output_layout(info, options, stem)
        region_names = [region.name for region in regions]
        fingerprint = run_fingerprint(info, options, geometry, device, path, pad_batches,
                                      region_names if specs else None)
        outputs = OutputFiles(out, stem, names, headers, fingerprint)
        run = InputRun(index, path, genome, stem, outputs, regions)
        run.resume = outputs.start(options.resume, region_names)
        if options.resume and (run.resume.done or run.resume.partial):
            state = "already complete" if run.resume.complete else f"resuming after {run.resume.done} contigs"
            if run.resume.partial:
                state += f", inside {run.resume.partial['name']} at {run.resume.partial['position']:,}"
            log.info("%s: %s", path, state)
        runs.append(run)
    return runs


def predict_files(net: nn.Module, info: ModelInfo, fasta: list[str | Path], out_dir: str | Path,
                  options: PredictOptions | None = None,
                  on_contig_done: Callable[[int, str], None] | None = None) -> RunReport:
    """Predict every contig (or the ``options.regions``) of every FASTA file with ``net`` and write the outputs
    into ``out_dir``, which is locked against other runs meanwhile.

    ``on_contig_done(input_index, region_name)`` is called after each region's outputs are recorded (tests use
    it to interrupt a run). Raises InputError/ConfigError for bad inputs, before any model call.
    """
    options = options or PredictOptions()
    options.check()
    device = resolve_device(options.device)
    geometry = resolve_geometry(info, options)
    pad_batches = options.pad_batches if options.pad_batches is not None else device.type == "cuda"
    with output_folder(out_dir) as out:
        runs = prepare_runs(info, fasta, out, options, geometry, device, pad_batches)
        try:
            return _execute(net, info, runs, options, geometry, device, pad_batches, on_contig_done)
        finally:
            for run in runs:
                run.outputs.close()


def writer_settings(info: ModelInfo, options: PredictOptions) -> tuple[TrackSettings | None, RowSettings | None]:
    """What the per-nucleotide (token-level models) or the window-level writers produce."""
    if info.token_level:
        return track_settings(info, options), None
    return None, row_settings(info, options)


def _execute(net: nn.Module, info: ModelInfo, runs: list[InputRun], options: PredictOptions, geometry: Geometry,
             device: torch.device, pad_batches: bool, on_contig_done) -> RunReport:
    runner = ModelRunner(net, info, device, options.precision, options.rc, options.compile)
    producer = Producer(runs, info, geometry, options, pin=device.type == "cuda", pad_batches=pad_batches)
    total = sum(run.bases_todo() for run in runs)
    progress = _progress_bar(total, options.progress)
    writer = Writer(runs, info, *writer_settings(info, options), on_contig_done, progress)
    t0 = time.perf_counter()
    try:
        stages = run_pipeline(iter(producer), runner, writer, options.prefetch)
    finally:
        if progress is not None:
            progress.close()
    seconds = time.perf_counter() - t0
    stages.update(read_s=producer.read_seconds, write_s=writer.write_seconds)
    return RunReport(run_summaries(runs), total, seconds, stages)


def run_summaries(runs: list[InputRun], seconds: float | None = None) -> list[dict[str, Any]]:
    """Per input: its path, outputs, regions and bases predicted in this run, seconds, and whether it was done."""
    return [{"fasta": str(run.path), "outputs": [str(p) for p in run.outputs.final.values()],
             "contigs": len(run.todo), "bases": run.bases_todo(),
             "seconds": run.seconds if seconds is None else seconds,
             "skipped_complete": run.resume.complete} for run in runs]


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="bp", unit_scale=True, unit_divisor=1000, desc="predict", smoothing=0.1,
                dynamic_ncols=True)
