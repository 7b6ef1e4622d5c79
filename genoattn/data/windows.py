"""Windows over contigs: tiling, random jittered windows, N filtering and contig-level splits.

A :class:`Windows` table holds many equal-length windows as numpy arrays (contig index, start),
so that millions of windows cost a few bytes each. Coordinates are 0-based half-open.

Tiling rule (``tile_windows``): starts are ``0, stride, 2*stride, ...`` while the window fits;
when the contig is longer than the window and the last window does not reach the contig end,
one more window is added, shifted back so that it ends exactly at the contig end (it overlaps
its neighbour). Contigs shorter than the window are skipped with one warning
(``short_contigs="skip"``) or get one window at start 0 that runs past the contig end and is
padded by the dataset (``short_contigs="pad"``). A window longer than every contig raises
:class:`~genoattn.errors.InputError` in both modes.

Splits are made of whole contigs, so no window of one split overlaps sequence of another.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from genoattn.data import vocab
from genoattn.errors import ConfigError, InputError


@dataclass(frozen=True)
class Windows:
    """Equal-length windows: ``contig_names[contig_index[i]]``, ``[start[i], start[i] + length)``."""

    contig_names: tuple[str, ...]
    contig_index: np.ndarray  # int32 [n]
    start: np.ndarray  # int64 [n]
    length: int

    def __post_init__(self) -> None:
        if self.contig_index.shape != self.start.shape or self.contig_index.ndim != 1:
            raise ValueError("Windows: contig_index and start must be 1-D arrays of one length")

    def __len__(self) -> int:
        return int(self.start.shape[0])

    def __getitem__(self, i: int) -> tuple[str, int, int]:
        """(contig, start, end) of window ``i``."""
        s = int(self.start[i])
        return self.contig_names[int(self.contig_index[i])], s, s + self.length

    def select(self, keep: np.ndarray) -> Windows:
        """Windows where the boolean mask (or index array) ``keep`` selects."""
        return Windows(self.contig_names, self.contig_index[keep], self.start[keep], self.length)

    def contigs(self) -> set[str]:
        """Names of the contigs that have at least one window."""
        return {self.contig_names[i] for i in np.unique(self.contig_index)}

    def nucleotides(self) -> int:
        return len(self) * self.length


def _check_window(window: int, stride: int | None) -> int:
    if not isinstance(window, (int, np.integer)) or window < 1:
        raise ConfigError(f"window: expected a positive integer, got {window!r}")
    stride = window if stride is None else stride
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ConfigError(f"stride: expected a positive integer (or None for stride = window), got {stride!r}")
    return int(stride)


def tile_windows(contig_lengths: Mapping[str, int], window: int, stride: int | None = None, *,
                 contigs: Iterable[str] | None = None, short_contigs: str = "skip") -> Windows:
    """Tile ``contigs`` (default: all, in the order of ``contig_lengths``) with windows of ``window`` bases
    every ``stride`` bases (default: ``window``); see the module docstring for the end and short-contig rules.

    The returned table indexes ``contig_names = tuple(contig_lengths)``.
    """
    stride = _check_window(window, stride)
    if short_contigs not in ("skip", "pad"):
        raise ConfigError(f"short_contigs: expected 'skip' or 'pad', got {short_contigs!r}")
    names = tuple(contig_lengths)
    if not names:
        raise InputError("tile_windows: no contigs to tile")
    longest = max(names, key=lambda c: contig_lengths[c])
    if window > contig_lengths[longest]:
        raise InputError(f"window {window} is longer than every contig (longest: {longest}, "
                         f"{contig_lengths[longest]} bp)")
    position = {c: i for i, c in enumerate(names)}
    chosen = names if contigs is None else list(contigs)
    idx_parts, start_parts, short = [], [], []
    for name in chosen:
        if name not in position:
            raise InputError(f"tile_windows: contig {name!r} is not in the genome")
        length = contig_lengths[name]
        if length < window:
            short.append(name)
            if short_contigs == "skip":
                continue
            starts = np.zeros(1, dtype=np.int64)
        else:
            starts = np.arange(0, length - window + 1, stride, dtype=np.int64)
            if starts[-1] + window < length:  # last window shifted back to end at the contig end
                starts = np.append(starts, length - window)
        start_parts.append(starts)
        idx_parts.append(np.full(len(starts), position[name], dtype=np.int32))
    if short and short_contigs == "skip":
        shown = ", ".join(short[:5]) + (" ..." if len(short) > 5 else "")
        warnings.warn(f"skipped {len(short)} contig(s) shorter than the window ({window} bp): {shown}",
                      stacklevel=2)
    if not start_parts:
        return Windows(names, np.zeros(0, np.int32), np.zeros(0, np.int64), int(window))
    return Windows(names, np.concatenate(idx_parts), np.concatenate(start_parts), int(window))


def central_keep(
    start: np.ndarray, contig_length: np.ndarray, window: int, context: int
) -> tuple[np.ndarray, np.ndarray]:
    """Window-local [keep_start, keep_end) of windows tiled with stride ``window - 2 * context``.

    Each base of a contig is kept by exactly one window, the one that sees it with at least ``context`` bases
    of sequence on both sides where the contig allows: the first window keeps its left edge, a window that
    reaches the contig end keeps its right edge, and a last window shifted back to end at the contig end
    (tile_windows' rule) starts keeping where the previous window stopped.
    """
    if context < 0 or 2 * context >= window:
        raise ConfigError(f"eval_context: expected 0 <= context < window / 2, got {context} for window {window}")
    start, contig_length = np.asarray(start, np.int64), np.asarray(contig_length, np.int64)
    stride = window - 2 * context
    keep_start = np.where(start > 0, context, 0)
    keep_end = np.where(start + window < contig_length, window - context, window)
    last_regular = np.maximum(contig_length - window, 0) // stride * stride
    shifted = (start > 0) & (start == contig_length - window) & (start != last_regular)
    keep_start = np.where(shifted, last_regular + window - context - start, keep_start)
    return keep_start, keep_end


def jitter_windows(windows: Windows, contig_lengths: Mapping[str, int], jitter: int,
                   rng: np.random.Generator) -> Windows:
    """Shift each window start by a uniform integer in [-jitter, jitter], kept inside its contig."""
    if jitter < 0:
        raise ConfigError(f"jitter: expected >= 0, got {jitter}")
    if jitter == 0 or not len(windows):
        return windows
    lengths = np.array([contig_lengths[c] for c in windows.contig_names], dtype=np.int64)
    last = np.maximum(lengths[windows.contig_index] - windows.length, 0)  # last valid start per window
    shifted = windows.start + rng.integers(-jitter, jitter + 1, size=len(windows))
    return Windows(windows.contig_names, windows.contig_index, np.clip(shifted, 0, last), windows.length)


def random_windows(base: Windows, contig_lengths: Mapping[str, int], n: int, jitter: int,
                   rng: np.random.Generator, n_content: NContent | None = None,
                   max_n_fraction: float = 1.0, p: np.ndarray | None = None) -> Windows:
    """``n`` training windows: drawn with replacement from ``base`` (e.g. the N-filtered tiling of the
    training contigs; uniformly, or with probabilities ``p`` [len(base)]), then jittered by up to ``jitter``
    bases. A jittered window whose N fraction exceeds ``max_n_fraction`` falls back to its unjittered base
    window (which passed the filter)."""
    if n < 1:
        raise ConfigError(f"train_windows_per_epoch: expected a positive integer, got {n}")
    if not len(base):
        raise InputError("random_windows: no windows to draw from (all contigs skipped or filtered)")
    drawn = base.select(rng.integers(0, len(base), size=n) if p is None else rng.choice(len(base), size=n, p=p))
    moved = jitter_windows(drawn, contig_lengths, jitter, rng)
    if n_content is not None and max_n_fraction < 1.0:
        bad = n_content.fraction(moved) > max_n_fraction
        moved = Windows(moved.contig_names, moved.contig_index, np.where(bad, drawn.start, moved.start),
                        moved.length)
    return moved


class NContent:
    """Counts N (non-ACGT) bases in any interval from the runs of N per contig (memory ~ number of runs)."""

    def __init__(self, contig_names: Sequence[str], runs: Mapping[str, tuple[np.ndarray, np.ndarray]]):
        self.contig_names = tuple(contig_names)
        self._runs = {c: runs.get(c, (np.zeros(0, np.int64), np.zeros(0, np.int64))) for c in self.contig_names}
        # cumulative N count before each run: [r + 1]
        self._cum = {c: np.concatenate([[0], np.cumsum(e - s)]) for c, (s, e) in self._runs.items()}

    @classmethod
    def from_ids(cls, ids_by_contig: Mapping[str, np.ndarray]) -> NContent:
        """From nucleotide ids per contig (N is any id other than A/C/G/T)."""
        return cls(list(ids_by_contig), {c: n_runs(ids) for c, ids in ids_by_contig.items()})

    @classmethod
    def joined(cls, parts: Sequence[NContent], contig_names: Sequence[str]) -> NContent:
        """Several genomes' N runs as one, their contigs renamed in order to ``contig_names``."""
        runs = [part._runs[c] for part in parts for c in part.contig_names]
        if len(runs) != len(contig_names):
            raise ValueError("NContent.joined: one name per contig of the parts expected")
        return cls(contig_names, dict(zip(contig_names, runs)))

    def count(self, contig: str, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Number of N bases in [start, end) of ``contig`` (vectorised over start/end)."""
        rs, re = self._runs[contig]
        cum = self._cum[contig]
        return self._n_before(rs, re, cum, np.asarray(end)) - self._n_before(rs, re, cum, np.asarray(start))

    @staticmethod
    def _n_before(rs: np.ndarray, re: np.ndarray, cum: np.ndarray, x: np.ndarray) -> np.ndarray:
        """N bases at positions < x."""
        if not len(rs):
            return np.zeros(np.shape(x), dtype=np.int64)
        j = np.searchsorted(rs, x, side="right")  # runs starting before x
        full = cum[j]  # counts all of those runs entirely
        last = np.maximum(j - 1, 0)
        over = np.where(j > 0, np.maximum(re[last] - x, 0), 0)  # part of the last run at or after x
        return full - over

    def fraction(self, windows: Windows) -> np.ndarray:
        """N fraction of each window (float64 [n]); bases past a contig end do not count."""
        out = np.zeros(len(windows))
        for ci in np.unique(windows.contig_index):
            sel = windows.contig_index == ci
            s = windows.start[sel]
            out[sel] = self.count(windows.contig_names[ci], s, s + windows.length) / windows.length
        return out


def n_runs(nt_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the runs of non-ACGT ids in a nucleotide id array."""
    is_n = (nt_ids < vocab.A) | (nt_ids > vocab.T)
    edges = np.diff(np.concatenate([[0], is_n.view(np.int8), [0]]))
    return np.flatnonzero(edges == 1).astype(np.int64), np.flatnonzero(edges == -1).astype(np.int64)


def filter_n(windows: Windows, n_content: NContent, max_n_fraction: float) -> Windows:
    """Keep windows whose fraction of N bases is at most ``max_n_fraction``."""
    if not 0.0 <= max_n_fraction <= 1.0:
        raise ConfigError(f"max_n_fraction: expected a value in [0, 1], got {max_n_fraction}")
    if max_n_fraction >= 1.0 or not len(windows):
        return windows
    return windows.select(n_content.fraction(windows) <= max_n_fraction)


def split_contigs(contig_names: Sequence[str], *, test_contigs: Sequence[str] | None = None,
                  val_contigs: Sequence[str] | None = None, val_fraction: float = 0.0,
                  test_fraction: float = 0.0, holdout_every: int | None = None,
                  seed: int = 0) -> dict[str, list[str]]:
    """Assign whole contigs to "train", "val" and "test" (each list keeps ``contig_names`` order).

    Test: ``test_contigs`` by name, or ``holdout_every=n`` (contigs sorted by name, index % n == 0
    held out: the rule of the E. coli baselines), or else ``test_fraction`` of the contigs drawn with
    ``seed``. Val: ``val_contigs`` by name, or else ``val_fraction`` of all contigs drawn from those
    left. A fraction > 0 takes at least one contig; the rest is train, which must not end empty.
    """
    names = list(contig_names)
    known = set(names)
    if len(known) != len(names):
        raise InputError("split_contigs: contig names must be unique")
    for arg, frac in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= frac < 1.0:
            raise ConfigError(f"{arg}: expected a fraction in [0, 1), got {frac}")
    if test_contigs is not None and holdout_every is not None:
        raise ConfigError("holdout_every: give either test_contigs or holdout_every, not both")
    if holdout_every is not None and (not isinstance(holdout_every, int) or holdout_every < 2):
        raise ConfigError(f"holdout_every: expected an integer >= 2, got {holdout_every!r}")
    for arg, given in (("test_contigs", test_contigs), ("val_contigs", val_contigs)):
        unknown = [c for c in (given or []) if c not in known]
        if unknown:
            raise ConfigError(f"{arg}: contig(s) not in the genome: {', '.join(unknown[:5])}")
    rng = np.random.default_rng(seed)

    def draw(pool: list[str], fraction: float) -> set[str]:
        if fraction <= 0 or not pool:
            return set()
        count = max(1, int(round(fraction * len(names))))
        order = rng.permutation(len(pool))
        return {pool[i] for i in order[:count]}

    if test_contigs is not None:
        test = set(test_contigs)
    elif holdout_every is not None:
        test = {c for i, c in enumerate(sorted(names)) if i % holdout_every == 0}
    else:
        test = draw(names, test_fraction)
    if val_contigs is not None:
        val = set(val_contigs)
        if val & test:
            raise ConfigError(f"val_contigs: contig(s) also in the test split: {', '.join(sorted(val & test)[:5])}")
    else:
        val = draw([c for c in names if c not in test], val_fraction)
    train = [c for c in names if c not in test and c not in val]
    if not train:
        raise ConfigError(f"val_fraction/test_fraction: no contig is left for training ({len(names)} contig(s), "
                          f"{len(val)} val, {len(test)} test)")
    return {"train": train, "val": [c for c in names if c in val], "test": [c for c in names if c in test]}
