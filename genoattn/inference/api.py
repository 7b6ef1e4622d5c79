"""Per-nucleotide predictions as numpy arrays, for notebooks and scripts (no files written).

    from genoattn.inference import predict_genome
    [chr_a] = predict_genome("runs/quickstart/.../last.ckpt", "genome.fa.gz", regions="chrA:1-20000")
    chr_a.values[:, 0]   # probability of the positive class at bases chrA:1-20000, NaN inside N runs

The same tiling, stitching and reverse-complement averaging as ``python -m genoattn.predict``: a region gets
what a pass over its whole contig gives it, wherever the model's receptive field fits in the context.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from genoattn.errors import ConfigError
from genoattn.inference.geometry import resolve_geometry
from genoattn.inference.inputs import open_inputs
from genoattn.inference.model import ModelInfo, load_model
from genoattn.inference.options import PredictOptions
from genoattn.inference.pipeline import run_pipeline
from genoattn.inference.plan import Begin, End, Skip, Tile
from genoattn.inference.producer import Producer
from genoattn.inference.regions import Region, parse_regions, regions_per_input
from genoattn.inference.runner import ModelRunner, resolve_device, score_channels
from genoattn.inference.runs import InputRun


@dataclass
class RegionScores:
    """Scores of bases ``[start, end)`` (0-based) of ``contig``: ``values`` float32 [end - start, channels], one
    column per name in ``columns`` (the positive class of a binary model, else every class); NaN in N runs."""

    contig: str
    start: int
    end: int
    values: np.ndarray
    columns: tuple[str, ...]


class _Collector:
    """Writer side of the pipeline that fills one array per region instead of writing files."""

    def __init__(self, channels: int) -> None:
        self.channels = channels
        self.results: list[RegionScores] = []
        self._region: Region | None = None
        self._values: np.ndarray | None = None
        self._masked: np.ndarray | None = None

    def __call__(self, scores: np.ndarray | None, segments: list) -> None:
        for seg in segments:
            if isinstance(seg, Begin):
                self._region, self._masked = seg.region, seg.masked
                self._values = np.full((len(seg.region), self.channels), np.nan, dtype=np.float32)
            elif isinstance(seg, Tile):
                region, values = self._current()
                assert scores is not None  # a batch with tiles went through the model
                lo = region.start
                values[seg.start - lo: seg.stop - lo] = scores[seg.row, seg.start - seg.offset: seg.stop - seg.offset]
            elif isinstance(seg, Skip):
                continue  # all N: stays NaN
            elif isinstance(seg, End):
                region, values = self._current()
                assert self._masked is not None  # the producer's Begin segments carry their N mask
                values[self._masked] = np.nan
                self.results.append(RegionScores(region.contig, region.start, region.end, values, ()))

    def _current(self) -> tuple[Region, np.ndarray]:
        """The region of the last Begin segment and its values."""
        assert self._region is not None and self._values is not None
        return self._region, self._values


def predict_genome(model: str | Path | tuple[nn.Module, ModelInfo], fasta: str | Path,
                   regions: str | list[str] | None = None, options: PredictOptions | None = None,
                   ) -> list[RegionScores]:
    """Per-nucleotide scores of every contig of ``fasta``, or of ``regions``, in memory.

    Args:
        model: a genoattn checkpoint path, or ``(net, info)`` as :func:`genoattn.inference.load_model` returns.
        fasta: FASTA (plain, gzip, bgzip) or GenBank file.
        regions: ``"chr1"``, ``"chr1:1001-2000"`` (1-based, inclusive), a BED file, or a list of these; None:
            every contig. Overlapping regions are merged; results follow the file's contig order.
        options: window, context, batch size, device, precision, RC averaging, N-run masking
            (:class:`genoattn.inference.PredictOptions`; output-file settings are ignored). Default: no progress bar.

    Returns:
        One :class:`RegionScores` per (merged) region.

    Raises InputError (bad FASTA, unknown contig, coordinates past a contig's end) or ConfigError (a window-level
    model: use :func:`genoattn.inference.predict_files`, which writes its TSV rows).
    """
    net, info = load_model(model) if isinstance(model, (str, Path)) else model
    if not info.token_level:
        raise ConfigError(f"predict_genome gives per-nucleotide arrays; a {info.task} model scores whole windows "
                          "(use predict_files, which writes them as TSV rows)")
    options = options or PredictOptions(progress=False)
    options.check()
    device = resolve_device(options.device)
    geometry = resolve_geometry(info, options)
    [(path, genome)] = open_inputs([fasta], options.cache_dir)
    specs = parse_regions([regions] if isinstance(regions, str) else list(regions)) if regions else None
    [chosen] = regions_per_input(specs, [genome])
    pad_batches = options.pad_batches if options.pad_batches is not None else device.type == "cuda"
    producer = Producer([InputRun(0, path, genome, "", None, chosen)], info, geometry, options,
                        pin=device.type == "cuda", pad_batches=pad_batches)
    runner = ModelRunner(net, info, device, options.precision, options.rc, options.compile)
    collector = _Collector(score_channels(info))
    run_pipeline(iter(producer), runner, collector, options.prefetch)
    names = info.class_names
    columns = (names[1],) if score_channels(info) == 1 else names
    for result in collector.results:
        result.columns = columns
    return collector.results
