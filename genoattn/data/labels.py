"""Task labels from annotation intervals, and masked-language-model inputs.

Per-nucleotide label modes (``label_mode``), values in int8 arrays:

- ``"binary"``: 1 where any selected feature (e.g. CDS) covers the base, else 0.
- ``"strand"``: 0 no feature, 1 covered by plus-strand features only, 2 minus-strand only.
- ``"frame"``: 0 no feature; 1, 2, 3 = codon position of a plus-strand CDS (1 = first base of the
  codon in reading direction); 4, 5, 6 = the same for a minus-strand CDS. The reading frame comes
  from the feature start and its GFF phase (phase p: the first whole codon starts p bases into the
  feature, counted in reading direction; no phase counts as 0).

Bases covered by conflicting features (both strands, two different frames, or a feature without
strand in the strand/frame modes) get ``IGNORE_INDEX``, so losses and metrics skip them.

Reverse complement keeps labels aligned when the label array is reversed and, for strand/frame,
strand classes are swapped (1 <-> 2; 1, 2, 3 <-> 4, 5, 6): see :func:`reverse_complement_labels`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from genoattn.data import vocab
from genoattn.errors import ConfigError, InputError

if TYPE_CHECKING:
    from genoattn.data.annotations import Interval
    from genoattn.data.tokenizers import Tokenizer

LabelMode = Literal["binary", "strand", "frame"]
LABEL_CLASSES: dict[str, int] = {"binary": 2, "strand": 3, "frame": 7}
_STRAND_CODE = {"+": 1, "-": 2}  # anything else: 0 (unknown)

# Label value -> label value after reverse complement, per mode (IGNORE_INDEX handled separately).
_RC_LABEL_TABLE = {
    "binary": np.array([0, 1], dtype=np.int8),
    "strand": np.array([0, 2, 1], dtype=np.int8),
    "frame": np.array([0, 4, 5, 6, 1, 2, 3], dtype=np.int8),
}


def check_label_mode(mode: str) -> None:
    if mode not in LABEL_CLASSES:
        raise ConfigError(f"label_mode: expected one of {sorted(LABEL_CLASSES)}, got {mode!r}")


class IntervalIndex:
    """Intervals grouped per contig and sorted by start, for fast region and window queries."""

    def __init__(self, intervals: Iterable[Interval]):
        by_contig: dict[str, list[Interval]] = {}
        for iv in intervals:
            if iv.end <= iv.start:
                continue  # empty (zero-length) features cover no base
            by_contig.setdefault(iv.contig, []).append(iv)
        self._arrays: dict[str, dict[str, np.ndarray]] = {}
        self.num_intervals = 0
        self.has_scores = True
        for contig, ivs in by_contig.items():
            ivs.sort(key=lambda iv: (iv.start, iv.end))
            start = np.array([iv.start for iv in ivs], dtype=np.int64)
            end = np.array([iv.end for iv in ivs], dtype=np.int64)
            scores = [iv.score for iv in ivs]
            self.has_scores &= all(s is not None for s in scores)
            self._arrays[contig] = {
                "start": start,
                "end": end,
                "strand": np.array([_STRAND_CODE.get(iv.strand, 0) for iv in ivs], dtype=np.int8),
                "phase": np.array([iv.phase or 0 for iv in ivs], dtype=np.int64),
                "score": np.array([np.nan if s is None else s for s in scores], dtype=np.float64),
                "max_len": np.array(int((end - start).max())),
            }
            self.num_intervals += len(ivs)

    @property
    def contigs(self) -> list[str]:
        return list(self._arrays)

    def overlapping(self, contig: str, start: int, end: int) -> dict[str, np.ndarray]:
        """Arrays (start, end, strand, phase, score) of the intervals that overlap [start, end)."""
        a = self._arrays.get(contig)
        if a is None:
            return {k: np.zeros(0, dtype=np.int64) for k in ("start", "end", "strand", "phase", "score")}
        # Only intervals starting in (start - max_len, end) can reach into the region.
        lo = np.searchsorted(a["start"], start - int(a["max_len"]), side="right")
        hi = np.searchsorted(a["start"], end, side="left")
        sel = slice(lo, hi)
        keep = a["end"][sel] > start
        return {k: a[k][sel][keep] for k in ("start", "end", "strand", "phase", "score")}


def nucleotide_labels(index: IntervalIndex, contig: str, start: int, end: int, mode: LabelMode) -> np.ndarray:
    """Per-nucleotide labels of ``contig[start:end]`` (int8 [end - start]) in ``mode`` (module docstring)."""
    check_label_mode(mode)
    length = end - start
    iv = index.overlapping(contig, start, end)
    s = np.clip(iv["start"] - start, 0, length)  # local coordinates, clipped to the region
    e = np.clip(iv["end"] - start, 0, length)

    def covered(sel: np.ndarray | slice = slice(None)) -> np.ndarray:
        """bool [length]: covered by any of the selected intervals (difference array + cumsum)."""
        diff = np.bincount(s[sel], minlength=length + 1) - np.bincount(e[sel], minlength=length + 1)
        return np.cumsum(diff[:length]) > 0

    if mode == "binary":
        return covered().astype(np.int8)
    strand = iv["strand"]
    if mode == "strand":
        plus, minus, unknown = covered(strand == 1), covered(strand == 2), covered(strand == 0)
        out = np.where(plus, 1, 0) + np.where(minus, 2, 0)
        out = np.where((plus & minus) | unknown, vocab.IGNORE_INDEX, out)
        return out.astype(np.int8)
    # frame: group intervals by (strand, anchor); one group covering a base fixes its codon position.
    anchor = np.where(strand == 1, (iv["start"] + iv["phase"]) % 3, (iv["end"] - 1 - iv["phase"]) % 3)
    groups = np.stack([covered((strand == 1) & (anchor == a)) for a in range(3)]
                      + [covered((strand == 2) & (anchor == a)) for a in range(3)])  # [6, length]
    n_groups = groups.sum(axis=0)
    g = groups.argmax(axis=0)
    x = np.arange(start, end, dtype=np.int64)  # contig coordinates
    frame = np.where(g < 3, (x - g) % 3 + 1, (g - 3 - x) % 3 + 4)
    out = np.where(n_groups == 0, 0, frame)
    out = np.where((n_groups > 1) | covered(strand == 0), vocab.IGNORE_INDEX, out)
    return out.astype(np.int8)


def contig_labels(index: IntervalIndex, contig_lengths: Mapping[str, int], mode: LabelMode,
                  contigs: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Whole-contig per-nucleotide label arrays (int8), built once per contig."""
    names = contig_lengths if contigs is None else contigs
    return {c: nucleotide_labels(index, c, 0, contig_lengths[c], mode) for c in names}


def reverse_complement_labels(labels: np.ndarray | torch.Tensor, mode: LabelMode) -> np.ndarray | torch.Tensor:
    """Labels of the reverse-complemented sequence: reversed along the last axis, strand classes swapped."""
    check_label_mode(mode)
    table = _RC_LABEL_TABLE[mode]
    if isinstance(labels, torch.Tensor):
        valid = labels >= 0
        swapped = torch.where(valid, torch.as_tensor(table, device=labels.device).to(labels.dtype)[
            labels.clamp(min=0).long()], labels)
        return swapped.flip(-1)
    labels = np.asarray(labels)
    swapped_np = np.where(labels >= 0, table[np.clip(labels, 0, len(table) - 1)], labels).astype(labels.dtype)
    return swapped_np[..., ::-1].copy()


def window_overlap_labels(index: IntervalIndex, contig: str, starts: np.ndarray, length: int,
                          min_overlap: float = 0.5) -> np.ndarray:
    """One binary label per window (int64 [n]): 1 iff some interval overlaps the window by at least
    ``min_overlap`` times the shorter of the two (so a short feature wholly inside a long window
    counts, and so does a long feature that covers the window)."""
    if not 0.0 < min_overlap <= 1.0:
        raise ConfigError(f"min_overlap: expected a fraction in (0, 1], got {min_overlap}")
    out = np.zeros(len(starts), dtype=np.int64)
    for i, s in enumerate(np.asarray(starts, dtype=np.int64)):
        iv = index.overlapping(contig, int(s), int(s) + length)
        if len(iv["start"]):
            overlap = np.minimum(iv["end"], s + length) - np.maximum(iv["start"], s)
            need = min_overlap * np.minimum(iv["end"] - iv["start"], length)
            out[i] = int(np.any(overlap >= need - 1e-9))
    return out


def window_scores(index: IntervalIndex, contig: str, starts: np.ndarray, length: int,
                  default: float = 0.0) -> np.ndarray:
    """One regression target per window (float32 [n]): the overlap-weighted mean score of the
    intervals that overlap it; ``default`` when none does."""
    if not index.has_scores:
        raise InputError("regression: every interval needs a score (BED column 5 or the chosen score_column)")
    out = np.full(len(starts), default, dtype=np.float32)
    for i, s in enumerate(np.asarray(starts, dtype=np.int64)):
        iv = index.overlapping(contig, int(s), int(s) + length)
        if len(iv["start"]):
            weight = np.minimum(iv["end"], s + length) - np.maximum(iv["start"], s)
            out[i] = float((weight * iv["score"]).sum() / weight.sum())
    return out


def read_scores(path: str | Path, column: int | str = 4) -> list[Interval]:
    """Read scored regions from a BED-like or TSV file (tab-separated, optionally gzip).

    Columns 1-3 are contig, start, end (0-based half-open, as in BED). ``column`` picks the score:
    a 0-based column index (default 4, BED's score column) or a name from a header line. Lines
    starting with '#', 'track' or 'browser' and blank lines are skipped; with a column index, a
    first line whose start/end are not integers is taken as a header.
    """
    from genoattn.data.annotations import Interval
    from genoattn.data.fileio import check_readable_file, iter_text_lines

    path = check_readable_file(path, "score table")
    out: list[Interval] = []
    col: int | None = column if isinstance(column, int) else None
    data_lines = 0
    for lineno, line in iter_text_lines(path):
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        fields = line.split("\t")
        data_lines += 1
        if col is None:  # first data line of a file whose score column is named: the header
            if column not in fields:
                raise InputError(f"{path}:{lineno}: score column {column!r} not in header {fields}")
            col = fields.index(column)
            continue
        if len(fields) <= max(col, 2):
            raise InputError(f"{path}:{lineno}: expected at least {max(col, 2) + 1} tab-separated "
                             f"columns, got {len(fields)}")
        try:
            start, end, score = int(fields[1]), int(fields[2]), float(fields[col])
        except ValueError:
            if data_lines == 1:
                continue  # a header line (score column given by index)
            raise InputError(f"{path}:{lineno}: expected integer start/end and a numeric score in "
                             f"column {col}, got {fields[1]!r}, {fields[2]!r}, {fields[col]!r}") from None
        if start < 0 or end < start:
            raise InputError(f"{path}:{lineno}: bad interval {fields[0]}:{start}-{end} (need 0 <= start <= end)")
        out.append(Interval(contig=fields[0], start=start, end=end, score=score, line=lineno))
    if not out:
        raise InputError(f"{path}: no scored regions found")
    return out


def mask_tokens(ids: np.ndarray, rng: np.random.Generator, tokenizer: Tokenizer,
                probability: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Masked-LM inputs and labels (BERT): each non-special token is chosen with ``probability``; of the
    chosen, 80% become MASK, 10% a random ordinary token, 10% stay. Labels (int64) hold the original id
    at chosen positions and IGNORE_INDEX elsewhere. Special tokens (PAD, CLS, SEP, MASK) are never chosen."""
    if not 0.0 < probability < 1.0:
        raise ConfigError(f"mlm_probability: expected a value in (0, 1), got {probability}")
    ids = np.asarray(ids)
    chosen = (rng.random(ids.shape, dtype=np.float32) < probability) & (ids > vocab.MASK)
    action = rng.random(ids.shape, dtype=np.float32)
    inputs = ids.astype(np.int64, copy=True)
    inputs[chosen & (action < 0.8)] = vocab.MASK
    rand = chosen & (action >= 0.8) & (action < 0.9)
    inputs[rand] = rng.integers(tokenizer.random_token_low, tokenizer.random_token_high, size=int(rand.sum()))
    labels = np.where(chosen, ids.astype(np.int64), vocab.IGNORE_INDEX)  # int64 first: uint8 ids would wrap -100
    return inputs, labels
