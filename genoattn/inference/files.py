"""``predict_files``: the single-process run from FASTA files to output files.

A run reads every input (or the ``--regions`` of it), tiles each region into overlapping windows, runs the
model on batches of them and stitches the central parts into per-nucleotide tracks (or window rows), with
three stages overlapping in three threads (genoattn.inference.pipeline, .producer, .stitching). Outputs appear
only when complete; ``--resume`` continues an interrupted run, inside long contigs too (genoattn.inference.outputs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from genoattn.inference.folder import output_folder
from genoattn.inference.geometry import resolve_geometry
from genoattn.inference.layout import writer_settings
from genoattn.inference.model import ModelInfo
from genoattn.inference.options import PredictOptions
from genoattn.inference.pipeline import run_pipeline
from genoattn.inference.producer import Producer
from genoattn.inference.runner import ModelRunner, resolve_device
from genoattn.inference.runs import InputRun, RunReport, prepare_runs, run_summaries
from genoattn.inference.stitching import Stitcher
from genoattn.inference.tiling import Geometry


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
                run.output_files.close()


def _execute(net: nn.Module, info: ModelInfo, runs: list[InputRun], options: PredictOptions, geometry: Geometry,
             device: torch.device, pad_batches: bool, on_contig_done) -> RunReport:
    runner = ModelRunner(net, info, device, options.precision, options.rc, options.compile)
    producer = Producer(runs, info, geometry, options, pin=device.type == "cuda", pad_batches=pad_batches)
    total = sum(run.bases_todo() for run in runs)
    progress = _progress_bar(total, options.progress)
    writer = Stitcher(runs, info, *writer_settings(info, options), on_contig_done, progress)
    t0 = time.perf_counter()
    try:
        stages = run_pipeline(iter(producer), runner, writer, options.prefetch)
    finally:
        if progress is not None:
            progress.close()
    seconds = time.perf_counter() - t0
    stages.update(read_s=producer.read_seconds, write_s=writer.write_seconds)
    return RunReport(run_summaries(runs), total, seconds, stages)


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="bp", unit_scale=True, unit_divisor=1000, desc="predict", smoothing=0.1,
                dynamic_ncols=True)
