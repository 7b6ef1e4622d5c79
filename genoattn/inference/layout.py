"""What each input of a run writes: output file names and headers, and what the per-nucleotide (track) or
window-level (row) writers put in them."""

from __future__ import annotations

from collections.abc import Mapping

from genoattn.inference.bigwig import BigWigBuilder
from genoattn.inference.builder_process import BuilderProcess
from genoattn.inference.model import ModelInfo
from genoattn.inference.options import PredictOptions
from genoattn.inference.outputs import Builder
from genoattn.inference.regions import Region
from genoattn.inference.row_writer import RowSettings
from genoattn.inference.runner import score_channels
from genoattn.inference.track_writer import TrackSettings

TRACK_SUFFIXES = {"bigwig": ".bw", "bedgraph": ".bedGraph"}


def dense_tracks(info: ModelInfo, options: PredictOptions) -> dict[str, tuple[int, str]]:
    """Output key -> (score channel, class name) of each per-nucleotide track file: the positive class of a binary
    model (key ``track``), else every class (``track.CLASS``); none with ``track="none"``."""
    if not info.token_level or options.track == "none":
        return {}
    classes = info.class_names
    if score_channels(info) == 1:
        return {"track": (0, classes[1])}
    return {f"track.{name}": (c, name) for c, name in enumerate(classes)}


def output_layout(info: ModelInfo, options: PredictOptions, stem: str) -> tuple[dict[str, str], dict[str, bytes]]:
    """Output key -> file name (``STEM[.CLASS].bw`` or ``.bedGraph``, ``STEM.bed``, ``STEM.tsv``), and key ->
    header bytes written at the top of its partial file (none for a bigWig's values), for one input."""
    names, headers = {}, {}
    classes = info.class_names
    for key, (_, name) in dense_tracks(info, options).items():
        names[key] = f"{stem}{key[len('track'):]}{TRACK_SUFFIXES[options.track]}"
        headers[key] = b"" if options.track == "bigwig" else (
            f'track type=bedGraph name="{stem} {name}" description="genoattn {info.task}: probability of '
            f'{name}"\n').encode()
    if info.token_level and options.bed:
        names["bed"] = f"{stem}.bed"
        headers["bed"] = (f'track name="{stem} calls" description="genoattn calls: probability >= '
                          f'{options.threshold}" useScore=1\n').encode()
    if not info.token_level:
        names["tsv"] = f"{stem}.tsv"
        columns = classes if info.task == "regression" else tuple(f"prob_{c}" for c in classes)
        headers["tsv"] = RowSettings(columns).header()
    return names, headers


def builders(info: ModelInfo, options: PredictOptions, regions: list[Region],
             contigs: Mapping[str, int]) -> dict[str, Builder]:
    """Output key -> the builder of each output that is not its partial file renamed: the bigWig tracks, each
    built in a child process (``contigs``: every contig of the input and its length; the non-empty ones make the
    bigWig header)."""
    if options.track != "bigwig":
        return {}
    header = {name: n for name, n in contigs.items() if n > 0}
    return {key: BuilderProcess(BigWigBuilder(regions, header, options.decimals))
            for key in dense_tracks(info, options)}


def track_settings(info: ModelInfo, options: PredictOptions) -> TrackSettings:
    classes = info.class_names
    binary = score_channels(info) == 1
    calls: tuple[tuple[str, int], ...] = ()
    if options.bed:
        calls = ((classes[1], 0),) if binary else tuple((classes[c], c) for c in range(1, len(classes)))
    tracks = {key: channel for key, (channel, _) in dense_tracks(info, options).items()}
    return TrackSettings(tracks, calls, options.decimals, options.threshold, options.merge_gap,
                         options.min_length, options.track)


def row_settings(info: ModelInfo, options: PredictOptions) -> RowSettings:
    classes = info.class_names
    if info.task == "regression":
        return RowSettings(classes, None, options.per_record)
    return RowSettings(tuple(f"prob_{c}" for c in classes), options.decimals, options.per_record)


def writer_settings(info: ModelInfo, options: PredictOptions) -> tuple[TrackSettings | None, RowSettings | None]:
    """What the per-nucleotide (token-level models) or the window-level writers produce."""
    if info.token_level:
        return track_settings(info, options), None
    return None, row_settings(info, options)
