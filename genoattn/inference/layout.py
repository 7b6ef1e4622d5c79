"""What each input of a run writes: output file names and headers, and what the per-nucleotide (track) or
window-level (row) writers put in them."""

from __future__ import annotations

from genoattn.inference.model import ModelInfo
from genoattn.inference.options import PredictOptions
from genoattn.inference.row_writer import RowSettings
from genoattn.inference.runner import score_channels
from genoattn.inference.track_writer import TrackSettings


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


def writer_settings(info: ModelInfo, options: PredictOptions) -> tuple[TrackSettings | None, RowSettings | None]:
    """What the per-nucleotide (token-level models) or the window-level writers produce."""
    if info.token_level:
        return track_settings(info, options), None
    return None, row_settings(info, options)
