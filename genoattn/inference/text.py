"""Vectorised text formatting of table rows (bedGraph, BED): numpy builds every line at once, no per-row Python.

A row is a sequence of fields: constant bytes, non-negative integers (``Int``), non-negative fixed-point
numbers (``Fixed``: an integer count of 10**-decimals units, written with exactly ``decimals`` decimals) or a
choice among a few byte strings (``Choice``). Each field becomes a digit matrix (numbers right-aligned) and a
per-row count of significant characters. Consecutive rows whose fields all have the same widths (sorted
coordinates make such runs long) are written by slicing columns; otherwise the valid bytes of the
concatenated matrices are picked with a mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# _DIGITS4[x] = the 4 ASCII digits of x (0 <= x < 10000), zero-padded.
_DIGITS4 = np.frombuffer("".join(f"{i:04d}" for i in range(10000)).encode(), dtype=np.uint8).reshape(10000, 4)
_POW10 = 10 ** np.arange(19, dtype=np.int64)
ROWS_PER_BLOCK = 1 << 18  # rows formatted together (bounds the temporary matrices to a few tens of MB)


@dataclass(frozen=True)
class Int:
    """Non-negative integers, one per row."""

    values: np.ndarray


@dataclass(frozen=True)
class Fixed:
    """Non-negative fixed-point numbers: ``units`` (integers) times 10**-decimals, written with ``decimals`` digits
    after the point (no point when ``decimals`` is 0)."""

    units: np.ndarray
    decimals: int


@dataclass(frozen=True)
class Choice:
    """One of ``options`` per row, picked by ``index``."""

    index: np.ndarray
    options: tuple[bytes, ...]


Field = bytes | Int | Fixed | Choice


@dataclass
class _Block:
    """A formatted field: characters [n, w]; ``count`` [n] significant ones (None: all w), at the right end
    (numbers) or the left end (``left``)."""

    chars: np.ndarray
    count: np.ndarray | None = None
    left: bool = False

    def mask(self) -> np.ndarray:
        n, width = self.chars.shape
        if self.count is None:
            return np.ones((n, width), dtype=bool)
        columns = np.arange(width)[None, :]
        return columns < self.count[:, None] if self.left else columns >= (width - self.count)[:, None]

    def columns(self, count: int) -> np.ndarray:
        width = self.chars.shape[1]
        if self.count is None:
            return self.chars
        return self.chars[:, :count] if self.left else self.chars[:, width - count:]


def _digits(values: np.ndarray, width: int | None = None) -> _Block:
    """Right-aligned zero-padded ASCII digits of non-negative integers; ``width`` fixes the width with every digit
    significant (zero-padded fractions), else it is the digit count of the largest value."""
    values = np.asarray(values, dtype=np.int64)
    if len(values) and values.min() < 0:
        raise ValueError("text fields take non-negative integers")
    fixed = width is not None
    if width is None:
        width = int(np.searchsorted(_POW10[1:], values.max(), side="right")) + 1 if len(values) else 1
    chunks = -(-width // 4)
    parts = []
    rest = values
    for _ in range(chunks):  # least significant 4 digits first
        parts.append(np.take(_DIGITS4, rest % 10000, axis=0))  # [n, 4]
        rest = rest // 10000
    chars = np.concatenate(parts[::-1], axis=1)[:, 4 * chunks - width:]  # [n, width]
    if fixed:
        return _Block(chars)
    return _Block(chars, np.searchsorted(_POW10[1:width], values, side="right") + 1)


def _field(field: Field, n: int) -> list[_Block]:
    if isinstance(field, bytes):
        return [_Block(np.broadcast_to(np.frombuffer(field, dtype=np.uint8), (n, len(field))))]
    if isinstance(field, Int):
        return [_digits(field.values)]
    if isinstance(field, Fixed):
        scale = 10 ** field.decimals
        units = np.asarray(field.units, dtype=np.int64)
        whole = _digits(units // scale)
        if not field.decimals:
            return [whole]
        point = _Block(np.full((n, 1), ord("."), dtype=np.uint8))
        return [whole, point, _digits(units % scale, width=field.decimals)]
    if isinstance(field, Choice):
        width = max(len(o) for o in field.options)
        table = np.zeros((len(field.options), width), dtype=np.uint8)
        for i, option in enumerate(field.options):
            table[i, : len(option)] = np.frombuffer(option, dtype=np.uint8)
        lengths = np.array([len(o) for o in field.options], dtype=np.int64)
        index = np.asarray(field.index, dtype=np.int64)
        return [_Block(np.take(table, index, axis=0), lengths[index], left=True)]
    raise TypeError(f"unknown field type {type(field).__name__}")


def _slice(field: Field, lo: int, hi: int) -> Field:
    if isinstance(field, Int):
        return Int(field.values[lo:hi])
    if isinstance(field, Fixed):
        return Fixed(field.units[lo:hi], field.decimals)
    if isinstance(field, Choice):
        return Choice(field.index[lo:hi], field.options)
    return field


def _join(blocks: list[_Block], n: int) -> bytes:
    counts = [b.count for b in blocks if b.count is not None]
    if not counts:
        return np.concatenate([b.chars for b in blocks], axis=1).tobytes()
    key = np.zeros(n, dtype=np.int64)
    for count in counts:  # one key per combination of field widths (each width < 64)
        key = key * 64 + count
    cuts = np.flatnonzero(key[1:] != key[:-1]) + 1
    if len(cuts) <= n // 64 + 4:  # long runs of equal widths: slice columns run by run
        out = []
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, n]):
            parts = [b.columns(int(b.count[lo]) if b.count is not None else 0)[lo:hi] for b in blocks]
            out.append(np.concatenate(parts, axis=1).tobytes())
        return b"".join(out)
    matrix = np.concatenate([b.chars for b in blocks], axis=1)  # [n, total width]
    mask = np.concatenate([b.mask() for b in blocks], axis=1)
    return matrix[mask].tobytes()


def format_rows(fields: list[Field], n: int) -> bytes:
    """The text of ``n`` rows made of ``fields`` (include separators and the newline as bytes fields)."""
    out = []
    for lo in range(0, n, ROWS_PER_BLOCK):
        hi = min(n, lo + ROWS_PER_BLOCK)
        blocks = [block for f in fields for block in _field(_slice(f, lo, hi), hi - lo)]
        out.append(_join(blocks, hi - lo))
    return b"".join(out)
