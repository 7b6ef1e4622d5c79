"""Tiling contigs into model windows, and masks of N runs.

Stitched tiling (per-nucleotide outputs): window i reads ``[start[i], start[i] + length)`` and keeps
``[keep_start[i], keep_end[i])``. Kept parts are consecutive and cover the contig exactly once. Every kept
base has at least ``context`` bases of the window on each side, except where the window touches a contig
end, which is also the end of a single pass over the whole contig. Starts and lengths are multiples of
``align`` (k-mer size * patch size), so the patch grid of every window lines up with that of a single pass,
and the padding past the contig end (PAD up to a multiple of ``align``) is the same as that pass's. A model
whose outputs depend on at most ``context`` bases on each side therefore gives, on the kept parts, exactly
what a single window over the whole contig would give.

Contigs not longer than the window (rounded up to ``align``) are one window of their own padded length: the
models are length-extrapolating (RoPE/ALiBi). With ``pad_short`` they are padded with PAD to the full window
instead, as ``GenomeDataModule(short_contigs="pad")`` showed them to the model in training.

A region ``[start, end)`` of a contig (``region_tiles``) is tiled like a contig made of the region and
``context`` bases of real sequence on each side (as far as the contig goes), its first window starting on the
contig's patch grid; only the region is kept, so its bases get what a pass over the whole contig gives them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genoattn.data import vocab
from genoattn.errors import ConfigError


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def round_down(value: int, multiple: int) -> int:
    return value // multiple * multiple


@dataclass(frozen=True)
class Tiles:
    """Windows over one contig (0-based, half-open); see the module doc. All arrays are int64 [n]."""

    length: int  # nucleotides read per window
    start: np.ndarray
    keep_start: np.ndarray
    keep_end: np.ndarray

    def __len__(self) -> int:
        return len(self.start)


@dataclass(frozen=True)
class Geometry:
    """Window length, overlap on each side (stitched outputs) or stride (window outputs), and alignment."""

    window: int
    context: int
    stride: int
    align: int
    pad_short: bool = False  # contigs shorter than the window run padded to it (as trained), not at their length


def check_window(window: int, align: int) -> int:
    """The window, which must be a positive multiple of ``align``; ConfigError otherwise."""
    if window < align or window % align:
        raise ConfigError(f"window: expected a positive multiple of {align} nucleotides (k-mer size * patch size), "
                          f"got {window}")
    return window


def choose_context(window: int, align: int, receptive_field: int | None) -> tuple[int, str | None]:
    """Default overlap on each side of the kept part: the receptive field when it fits, and a warning if not.

    The kept part (window - 2 * context) stays at least an eighth of the window. Models with an unbounded
    receptive field (full or global attention) get a quarter of the window on each side.
    """
    most = round_down(max(0, window - max(align, window // 8)) // 2, align)
    if receptive_field is None:
        return min(round_down(window // 4, align), most), (
            "the model's receptive field is unbounded (global attention): tiles overlap by a quarter window on "
            "each side, and outputs can differ slightly from a single pass over a whole contig")
    context = round_up(receptive_field, align)
    if context <= most:
        return context, None
    return most, (f"the model's receptive field ({receptive_field} nt on each side) does not fit in a {window} nt "
                  f"window with a useful kept part; using {most} nt of context (outputs near tile borders can "
                  f"differ from a single pass); a window of at least {2 * context + max(align, window // 8)} "
                  "nt (--window) makes them exact")


def check_context(context: int, window: int, align: int) -> int:
    """A user-given context, rounded up to ``align``; the kept part must stay non-empty."""
    context = round_up(max(0, context), align)
    if window - 2 * context < align:
        raise ConfigError(f"context: {context} nt on each side leaves no kept part in a {window} nt window "
                          f"(expected 2 * context <= window - {align})")
    return context


def stitch_tiles(contig_length: int, window: int, context: int, align: int = 1, pad_short: bool = False) -> Tiles:
    """Overlapping windows whose central parts cover ``[0, contig_length)`` once (see the module doc)."""
    padded = round_up(contig_length, align)
    if padded <= window:
        one = np.zeros(1, dtype=np.int64)
        length = window if pad_short else max(padded, align)
        return Tiles(length, one, one.copy(), np.full(1, contig_length, dtype=np.int64))
    stride = window - 2 * context
    n = 1 + -(-(padded - window) // stride)  # windows 0 .. n-1; the last one ends at `padded`
    k = np.arange(n, dtype=np.int64)
    start = np.minimum(k * stride, padded - window)
    keep_start = np.where(k == 0, 0, k * stride + context)
    keep_end = np.where(k == n - 1, contig_length, (k + 1) * stride + context)
    return Tiles(window, start, keep_start, keep_end)


def sequence_tiles(contig_length: int, window: int, stride: int, align: int = 1, pad_short: bool = False) -> Tiles:
    """Windows for window-level outputs: every ``stride`` bases, the last one shifted back to end at the contig
    end; a contig not longer than the window is one window of its own length (rounded up to ``align``).
    ``keep`` is the window's part inside the contig."""
    if contig_length <= window:
        one = np.zeros(1, dtype=np.int64)
        length = window if pad_short else max(round_up(contig_length, align), align)
        return Tiles(length, one, one.copy(), np.full(1, contig_length, dtype=np.int64))
    n = 1 + -(-(contig_length - window) // stride)
    start = np.minimum(np.arange(n, dtype=np.int64) * stride, contig_length - window)
    start = np.unique(start)
    return Tiles(window, start, start.copy(), start + window)


def n_mask(ids: np.ndarray, min_run: int = 1) -> np.ndarray:
    """bool [L]: True on bases inside runs of at least ``min_run`` N (nucleotide id vocab.N)."""
    is_n = ids == vocab.N
    if min_run <= 1 or not is_n.any():
        return is_n
    edges = np.diff(is_n.view(np.int8), prepend=0, append=0)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long = (ends - starts) >= min_run
    marks = np.zeros(len(ids) + 1, dtype=np.int32)
    np.add.at(marks, starts[long], 1)
    np.add.at(marks, ends[long], -1)
    return np.cumsum(marks[:-1]) > 0


def masked_counts(mask: np.ndarray, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Number of masked bases in each ``[begin[i], end[i])`` (int64 [n]); no contig-long temporary."""
    return np.array([np.count_nonzero(mask[b:e]) for b, e in zip(begin.tolist(), end.tolist())], dtype=np.int64)


def pad_ids(ids: np.ndarray, length: int) -> np.ndarray:
    """``ids`` extended with PAD to ``length`` (the array itself when already long enough)."""
    if len(ids) >= length:
        return ids
    out = np.full(length, vocab.PAD, dtype=ids.dtype)
    out[: len(ids)] = ids
    return out


def region_tiles(start: int, end: int, contig_length: int, geometry: Geometry,
                 stitched: bool) -> tuple[int, int, Tiles]:
    """The bases to read ``[lo, hi)`` and the windows (contig coordinates) for bases ``[start, end)`` of a contig
    (see the module doc); ``stitched``: per-nucleotide tiles with context, else window-level tiles of the region.
    An empty region has no windows."""
    g = geometry
    if stitched:
        lo = max(0, round_down(start - g.context, g.align)) if start else 0
        hi = min(contig_length, end + g.context)
    else:
        lo, hi = start, end
    if hi <= lo:
        empty = np.zeros(0, dtype=np.int64)
        return lo, hi, Tiles(g.window, empty, empty, empty)
    if stitched:
        tiles = stitch_tiles(hi - lo, g.window, g.context, g.align, g.pad_short)
    else:
        tiles = sequence_tiles(hi - lo, g.window, g.stride, g.align, g.pad_short)
    keep_start, keep_end = tiles.keep_start + lo, tiles.keep_end + lo
    if stitched:
        keep_start, keep_end = np.clip(keep_start, start, end), np.clip(keep_end, start, end)
    used = keep_end > keep_start
    return lo, hi, Tiles(tiles.length, tiles.start[used] + lo, keep_start[used], keep_end[used])


def resume_tiles(tiles: Tiles, window_start: int, position: int) -> Tiles:
    """The windows from the one starting at ``window_start`` on, the first kept from ``position`` (a run
    interrupted inside a region resumes there); InputError-free: the caller checked the saved state."""
    first = int(np.searchsorted(tiles.start, window_start))
    if first >= len(tiles) or int(tiles.start[first]) != window_start:
        raise ValueError(f"no window starts at {window_start}")
    keep_start = tiles.keep_start[first:].copy()
    keep_start[0] = max(int(keep_start[0]), position)
    return Tiles(tiles.length, tiles.start[first:], keep_start, tiles.keep_end[first:])
