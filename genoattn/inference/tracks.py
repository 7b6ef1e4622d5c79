"""Per-contig tracks built chunk by chunk: run-length encoded bedGraph lines and called intervals (BED).

Both take consecutive chunks ``(start, values [n], masked [n])`` of one contig in order, with any chunking:
the intervals and lines do not depend on where chunks are cut (interval means only up to float rounding, so
the track writer cuts chunks at fixed contig positions). Masked bases (inside N runs) get no bedGraph
line and are never part of a called interval, and two calls are not merged across them.
"""

from __future__ import annotations

import numpy as np

from genoattn.inference.text import Choice, Fixed, Int, format_rows


def quantize(values: np.ndarray, decimals: int) -> np.ndarray:
    """int64 units of 10**-decimals nearest to ``values`` (half to even), clipped at 0."""
    return np.maximum(np.rint(values.astype(np.float64) * 10.0**decimals), 0).astype(np.int64)


class BedGraphTrack:
    """bedGraph lines ``contig start end value`` of one value per base: equal consecutive rounded values merge.

    Values are written with ``decimals`` decimals (non-negative, e.g. probabilities). The last run of a
    chunk is held back until the next chunk shows whether it continues.
    """

    def __init__(self, contig: str, decimals: int = 3) -> None:
        self.prefix = contig.encode() + b"\t"
        self.decimals = decimals
        self._pending: tuple[int, int, int] | None = None  # (start, end, units) of the last run

    def add(self, start: int, values: np.ndarray, masked: np.ndarray) -> bytes:
        """Text of the runs that end for sure within this chunk."""
        n = len(values)
        if n == 0:
            return b""
        units = quantize(values, self.decimals)
        cuts = np.flatnonzero((units[1:] != units[:-1]) | (masked[1:] != masked[:-1])) + 1
        run_start = np.r_[0, cuts]
        keep = ~masked[run_start]
        begin = start + run_start[keep]
        end = start + np.r_[cuts, n][keep]
        unit = units[run_start][keep]
        if self._pending is not None:
            p_start, p_end, p_unit = self._pending
            if len(begin) and begin[0] == p_end and unit[0] == p_unit:
                begin[0] = p_start  # the held-back run continues into this chunk
            else:
                begin, end, unit = np.r_[p_start, begin], np.r_[p_end, end], np.r_[p_unit, unit]
        if not len(begin):
            self._pending = None
            return b""
        self._pending = (int(begin[-1]), int(end[-1]), int(unit[-1]))
        return self._format(begin[:-1], end[:-1], unit[:-1])

    def state(self) -> list[int] | None:
        """The held-back run (JSON-able), for resuming a contig where a chunk ended (see :meth:`restore`)."""
        return None if self._pending is None else list(self._pending)

    def restore(self, state: list[int] | None) -> None:
        self._pending = None if state is None else (int(state[0]), int(state[1]), int(state[2]))

    def finish(self) -> bytes:
        """Text of the held-back last run (call once, after the contig's last chunk)."""
        if self._pending is None:
            return b""
        p_start, p_end, p_unit = self._pending
        self._pending = None
        return self._format(np.array([p_start]), np.array([p_end]), np.array([p_unit]))

    def _format(self, begin: np.ndarray, end: np.ndarray, unit: np.ndarray) -> bytes:
        if not len(begin):
            return b""
        return format_rows([self.prefix, Int(begin), b"\t", Int(end), b"\t", Fixed(unit, self.decimals), b"\n"],
                           len(begin))


class IntervalCaller:
    """Intervals where a score is >= ``threshold``: runs separated by at most ``merge_gap`` unmasked bases are
    merged, and merged intervals shorter than ``min_length`` dropped.

    Each interval carries the mean score over its bases (gaps bridged by merging included). Cumulative
    masked counts and score sums over the contig locate masks and sums across chunk borders.
    """

    def __init__(self, threshold: float = 0.5, merge_gap: int = 0, min_length: int = 1) -> None:
        self.threshold, self.merge_gap, self.min_length = threshold, merge_gap, min_length
        self._masked_before = 0
        self._sum_before = 0.0
        # the last merged interval, which a later run may still extend: start, end, masked/sum before start/end
        self._pending: np.ndarray | None = None

    def add(self, start: int, values: np.ndarray, masked: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Intervals completed by this chunk: (starts, ends, mean scores)."""
        values = np.where(masked, 0.0, values.astype(np.float64))
        cum_masked = np.concatenate([[0], np.cumsum(masked, dtype=np.int64)]) + self._masked_before
        cum_sum = np.concatenate([[0.0], np.cumsum(values)]) + self._sum_before
        self._masked_before, self._sum_before = int(cum_masked[-1]), float(cum_sum[-1])
        hit = (values >= self.threshold) & ~masked
        edges = np.diff(hit.view(np.int8), prepend=0, append=0)
        lo, hi = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        runs = np.stack([start + lo, start + hi, cum_masked[lo], cum_masked[hi], cum_sum[lo], cum_sum[hi]], axis=1)
        return self._merge(runs, final=False)

    @property
    def pending_start(self) -> int | None:
        """Start of the interval a later chunk may still extend (no call can start before it), or None."""
        return None if self._pending is None else int(self._pending[0])

    def state(self) -> dict:
        """Running sums and the open interval (JSON-able: floats round-trip exactly through ``repr``)."""
        pending = None if self._pending is None else [float(v) for v in self._pending]
        return {"masked_before": self._masked_before, "sum_before": self._sum_before, "pending": pending}

    def restore(self, state: dict) -> None:
        self._masked_before, self._sum_before = int(state["masked_before"]), float(state["sum_before"])
        self._pending = None if state["pending"] is None else np.array(state["pending"], dtype=np.float64)

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The last interval (if any); call once after the contig's last chunk."""
        return self._merge(np.zeros((0, 6)), final=True)

    def _merge(self, runs: np.ndarray, final: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._pending is not None:
            runs = np.concatenate([self._pending[None, :], runs])
        self._pending = None
        if not len(runs):
            return _empty_intervals()
        gap = runs[1:, 0] - runs[:-1, 1]
        masked_between = runs[1:, 2] - runs[:-1, 3]
        joins = (gap <= self.merge_gap) & (masked_between == 0)
        first = np.flatnonzero(np.r_[True, ~joins])
        last = np.r_[first[1:] - 1, len(runs) - 1]
        head, tail = runs[first], runs[last]  # [m, 6] each: first and last run of every merged interval
        merged = np.stack([head[:, 0], tail[:, 1], head[:, 2], tail[:, 3], head[:, 4], tail[:, 5]], axis=1)
        if not final:
            self._pending, merged = merged[-1], merged[:-1]
        begin, end = merged[:, 0].astype(np.int64), merged[:, 1].astype(np.int64)
        mean = (merged[:, 5] - merged[:, 4]) / np.maximum(end - begin, 1)
        keep = (end - begin) >= self.min_length
        return begin[keep], end[keep], mean[keep]


def _empty_intervals() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)


def format_bed(contig: str, begin: np.ndarray, end: np.ndarray, mean: np.ndarray, names: tuple[bytes, ...],
               name_index: np.ndarray) -> bytes:
    """BED6 lines: contig, start, end, class name, score = round(1000 * mean score) (0-1000), strand '.'."""
    if not len(begin):
        return b""
    score = np.clip(np.rint(mean * 1000.0), 0, 1000).astype(np.int64)
    return format_rows([contig.encode() + b"\t", Int(begin), b"\t", Int(end), b"\t", Choice(name_index, names),
                        b"\t", Int(score), b"\t.\n"], len(begin))
