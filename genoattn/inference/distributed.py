"""Multi-device prediction through Lightning's predict loop (``--devices N``).

Every process builds the same batch plan from the regions' lengths (no reading: windows inside N runs are
run too, and masked when written). A map-style dataset turns plan batch ``i`` into token ids by reading its
windows from the FASTA; Lightning's distributed sampler shares the batches among the processes; a
``BasePredictionWriter`` saves each batch's scores as ``.npy`` into a hidden folder of the output folder.
After a barrier, process 0 replays the plan in order through the same writers as the single-process path
(stitching, bedGraph/BED/TSV, state, atomic renames) and removes the folder. Process 0 opens the outputs
(fresh or resumed) before the others start, and they read the resume point from its state files.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter
from torch import nn
from torch.utils.data import DataLoader, Dataset

from genoattn.data.genome import Genome
from genoattn.data.tokenizers import build_tokenizer, encode_nucleotides
from genoattn.inference.folder import is_main_process, output_folder
from genoattn.inference.geometry import resolve_geometry
from genoattn.inference.inputs import open_inputs, unique_stems
from genoattn.inference.layout import writer_settings
from genoattn.inference.model import ModelInfo
from genoattn.inference.options import PredictOptions
from genoattn.inference.outputs import ResumePoint
from genoattn.inference.plan import BatchPlanner, Begin, End, InputEnd, PlannedBatch, Tile, Window
from genoattn.inference.regions import Region, parse_regions, regions_per_input
from genoattn.inference.runner import ModelRunner, resolve_device
from genoattn.inference.runs import InputRun, RunReport, prepare_runs, run_summaries
from genoattn.inference.stitching import Stitcher
from genoattn.inference.tiling import Geometry, n_mask, region_tiles, resume_tiles

SCORES_DIR = ".genoattn-predict-scores"


def plan_batches(runs: list[tuple[int, list[Region], ResumePoint]], info: ModelInfo, geometry: Geometry,
                 batch_size: int) -> list[PlannedBatch]:
    """Every batch of the run; a row is (input index, contig, start, length) of a window."""
    planner = BatchPlanner(batch_size)
    batches: list[PlannedBatch] = []
    for index, regions, resume in runs:
        if resume.complete:
            continue
        batches += planner.start_input(resume.cursor)
        for i, region in enumerate(regions[resume.done:]):
            inside = resume.partial if i == 0 else None
            planner.note(Begin(index, region, None, inside["writer"] if inside is not None else None))
            _, _, tiles = region_tiles(region.start, region.end, region.length, geometry, info.token_level)
            if inside is not None:
                tiles = resume_tiles(tiles, int(inside["window"]), int(inside["position"]))
            n = tiles.length
            for s, ks, ke in zip(tiles.start.tolist(), tiles.keep_start.tolist(), tiles.keep_end.tolist()):
                row = (index, region.contig, s, n)
                if info.token_level:
                    batches += planner.row(n, row, lambda r, s=s, ks=ks, ke=ke, n=n: Tile(r, ks, ke, s, n))
                else:
                    batches += planner.row(n, row, lambda r, s=s, e=ke, n=n: Window(r, s, e, n))
            planner.note(End(planner.cursor))
        planner.note(InputEnd(index))
        batches += planner.flush()
    return batches


class PlanDataset(Dataset):
    """Item i = {"tokens": token ids [rows, T] of plan batch i, "index": i} (read from the FASTA files)."""

    def __init__(self, batches: list[PlannedBatch], genomes: dict[int, Genome], info: ModelInfo) -> None:
        self.batches, self.genomes = batches, genomes
        self.tokenizer = build_tokenizer(info.tokenizer, info.k)
        self.k = info.k

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> dict:
        batch = self.batches[i]
        tokens = np.zeros((len(batch.rows), batch.length // self.k), dtype=self.tokenizer.dtype)
        for r, row in enumerate(batch.rows):
            if row is None:
                continue
            index, name, start, length = row
            genome = self.genomes[index]
            stop = min(start + length, genome.length(name))
            ids = np.zeros(length, dtype=np.uint8)  # PAD past the contig end
            ids[: stop - start] = encode_nucleotides(genome.fetch(name, start, stop))
            tokens[r] = self.tokenizer.encode_nucleotides(ids)
        return {"tokens": torch.from_numpy(tokens), "index": i}


class PredictModule(pl.LightningModule):
    """Wraps a network for ``trainer.predict``: scores as in the single-process path (ModelRunner)."""

    def __init__(self, net: nn.Module, info: ModelInfo, precision: str, rc: bool) -> None:
        super().__init__()
        self.net, self.info, self.precision_name, self.rc = net, info, precision, rc
        self._runner: ModelRunner | None = None

    def predict_step(self, batch: dict, batch_idx: int) -> torch.Tensor | None:
        if self._runner is None:
            self._runner = ModelRunner(self.net, self.info, self.device, self.precision_name, self.rc)
        if not batch["tokens"].numel():
            return None
        return self._runner.scores(batch["tokens"])


class ScoreSaver(BasePredictionWriter):
    """Saves each batch's scores as ``{index:09d}.npy`` (written to a temporary name, then renamed)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(write_interval="batch")
        self.folder = folder

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx=0) -> None:
        if prediction is None:
            return
        index = int(batch["index"])
        target = self.folder / f"{index:09d}.npy"
        tmp = self.folder / f".{index:09d}.{trainer.global_rank}.tmp.npy"
        np.save(tmp, prediction.float().cpu().numpy())
        os.replace(tmp, target)


def _resume_points(out: Path, stems: list[str]) -> list[ResumePoint]:
    """Resume points as process 0 recorded them in the state files (other processes only read)."""
    points = []
    for stem in stems:
        state = json.loads((out / f"{stem}.state.json").read_text())
        partial = state.get("partial")
        cursor = tuple(partial["cursor"]) if partial else tuple(state["cursor"])
        points.append(ResumePoint(int(state["done"]), cursor, bool(state["complete"]), partial))
    return points


def predict_files_lightning(net: nn.Module, info: ModelInfo, fasta: list[str | Path], out_dir: str | Path,
                            options: PredictOptions, devices: int = 1) -> RunReport | None:
    """Like :func:`genoattn.inference.files.predict_files` over ``devices`` processes; returns the report on
    process 0 and None on the others (only process 0 locks the output folder)."""
    options.check()
    main = is_main_process()
    with output_folder(out_dir, lock=main) as out:
        return _predict_lightning(net, info, fasta, out, options, devices, main)


def _predict_lightning(net: nn.Module, info: ModelInfo, fasta: list[str | Path], out: Path, options: PredictOptions,
                       devices: int, main: bool) -> RunReport | None:
    device = resolve_device(options.device)
    geometry = resolve_geometry(info, options)
    runs: list[InputRun] = []
    if main:
        runs = prepare_runs(info, fasta, out, options, geometry, device, pad_batches=False)
        genomes = {run.index: run.genome for run in runs}
        per_input = {run.index: run.regions for run in runs}
        points = [run.resume for run in runs]
    else:
        opened = open_inputs(fasta, options.cache_dir)
        genomes = {i: genome for i, (_, genome) in enumerate(opened)}
        specs = parse_regions(options.regions) if options.regions else None
        per_input = dict(enumerate(regions_per_input(specs, list(genomes.values()))))
        points = _resume_points(out, unique_stems([path for path, _ in opened]))
    batches = plan_batches([(i, per_input[i], points[i]) for i in genomes], info, geometry, options.batch_size)
    folder = out / SCORES_DIR
    if main:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    trainer = pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu", devices=devices,
        strategy="ddp" if devices > 1 else "auto", precision="32-true", logger=False, enable_checkpointing=False,
        enable_progress_bar=options.progress, enable_model_summary=False, callbacks=[ScoreSaver(folder)],
    )
    loader = DataLoader(PlanDataset(batches, genomes, info), batch_size=None, shuffle=False)
    t0 = time.perf_counter()
    try:
        trainer.predict(PredictModule(net, info, options.precision, options.rc), loader, return_predictions=False)
        trainer.strategy.barrier()
        if trainer.global_rank != 0:
            return None
        return _merge(runs, batches, folder, info, options, time.perf_counter() - t0)
    finally:
        for run in runs:
            run.output_files.close()


def _merge(runs: list[InputRun], batches: list[PlannedBatch], folder: Path, info: ModelInfo,
           options: PredictOptions, model_seconds: float) -> RunReport:
    """Process 0: replay the plan through the writers with the saved scores, then remove them."""
    t0 = time.perf_counter()

    def read_masked(run: InputRun, region: Region) -> np.ndarray:
        ids = encode_nucleotides(run.genome.fetch(region.contig, region.start, region.end))
        return n_mask(ids, options.min_n_run)

    writer = Stitcher(runs, info, *writer_settings(info, options), read_masked=read_masked)
    for i, batch in enumerate(batches):
        scores = np.load(folder / f"{i:09d}.npy") if batch.real_rows else None
        writer(scores, batch.segments)
    shutil.rmtree(folder, ignore_errors=True)
    total = sum(run.bases_todo() for run in runs)
    seconds = model_seconds + time.perf_counter() - t0
    return RunReport(run_summaries(runs, seconds), total, seconds,
                     {"predict_loop_s": model_seconds, "merge_s": time.perf_counter() - t0})
