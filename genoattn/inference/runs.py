"""The inputs of a run as units of work: each one's genome, regions, output files and resume point (fresh or
continued), the fingerprint that ``--resume`` checks, and the report of what the run did."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from genoattn import __version__
from genoattn.data.genome import Genome
from genoattn.inference.inputs import open_inputs, unique_stems
from genoattn.inference.layout import builders, output_layout
from genoattn.inference.model import ModelInfo
from genoattn.inference.options import PredictOptions
from genoattn.inference.outputs import OutputFiles, ResumePoint, file_fingerprint
from genoattn.inference.regions import Region, RegionSpec, parse_regions, regions_per_input
from genoattn.inference.tiling import Geometry

log = logging.getLogger("genoattn.predict")


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
    def output_files(self) -> OutputFiles:
        """``outputs`` of a run that writes files (every run of prepare_runs)."""
        assert self.outputs is not None, f"{self.path}: this run keeps its results in memory"
        return self.outputs

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
        outputs = OutputFiles(out, stem, names, headers, fingerprint, builders(info, options, regions, genome.contigs))
        run = InputRun(index, path, genome, stem, outputs, regions)
        run.resume = outputs.start(options.resume, region_names)
        if options.resume and (run.resume.done or run.resume.partial):
            state = "already complete" if run.resume.complete else f"resuming after {run.resume.done} contigs"
            if run.resume.partial:
                state += f", inside {run.resume.partial['name']} at {run.resume.partial['position']:,}"
            log.info("%s: %s", path, state)
        runs.append(run)
    return runs


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


def run_summaries(runs: list[InputRun], seconds: float | None = None) -> list[dict[str, Any]]:
    """Per input: its path, outputs, regions and bases predicted in this run, seconds, and whether it was done."""
    return [{"fasta": str(run.path), "outputs": [str(p) for p in run.output_files.final.values()],
             "contigs": len(run.todo), "bases": run.bases_todo(),
             "seconds": run.seconds if seconds is None else seconds,
             "skipped_complete": run.resume.complete} for run in runs]
