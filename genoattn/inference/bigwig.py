"""bigWig tracks (predict's default dense output), written while the run goes and resumable.

A bigWig cannot be appended to once closed (its index and zoom levels are written last), and one left open by a
killed run is unreadable, so the bigWig file alone cannot carry ``--resume``. Each chunk's values therefore go
two ways: appended to the output's partial file (``.NAME.bw.partial``) as fixed-width integers, units of
10**-decimals (the values the bedGraph writer would write, rounded half to even), the type's largest integer
for bases in N runs, which grows, is truncated and resumed exactly like the text outputs' partial files
(genoattn.inference.outputs); and added to the bigWig being written (``.NAME.bw.building``) by
:class:`BigWigBuilder` through pyBigWig: a header with every non-empty contig of the FASTA index (file order,
lengths), then per-base fixedStep entries (span 1) for each stretch of unmasked bases. When the input is
complete the bigWig is closed (zoom levels, index), checked (it reads back, every value covered) and renamed
into place. A resumed run starts a fresh bigWig and replays the partial file's values into it first.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genoattn.inference.regions import Region
from genoattn.inference.tracks import quantize

BLOCK = 1 << 14  # bases per group of pyBigWig calls (short: pyBigWig holds the GIL during a call)
MAX_ZOOMS = 10  # zoom levels of the bigWig (pyBigWig's default)


def units_dtype(decimals: int) -> np.dtype:
    """Integers that hold 10**decimals (a probability of 1) and, above it, the sentinel of masked bases."""
    return np.dtype(np.uint16) if 10**decimals < np.iinfo(np.uint16).max else np.dtype(np.uint32)


def masked_units(decimals: int) -> int:
    """The sentinel that marks a base without a value (inside an N run)."""
    return int(np.iinfo(units_dtype(decimals)).max)


class BigWigValues:
    """The dense track of one contig for a bigWig output: ``add`` turns a chunk's values into the bytes appended
    to the partial file (same interface as genoattn.inference.tracks.BedGraphTrack; nothing is held back)."""

    def __init__(self, decimals: int) -> None:
        self.decimals = decimals
        self.dtype = units_dtype(decimals)
        self.masked = masked_units(decimals)

    def add(self, start: int, values: np.ndarray, masked: np.ndarray) -> bytes:
        """Bytes of ``values`` [n] (masked [n] bool): one integer per base."""
        units = np.minimum(quantize(values, self.decimals), self.masked - 1)
        units[masked] = self.masked
        return units.astype(self.dtype).tobytes()

    def finish(self) -> bytes:
        return b""

    def state(self) -> None:
        return None

    def restore(self, state: None) -> None:
        return None


class BigWigBuilder:
    """Writes one output's bigWig while its partial file of values grows (see the module doc).

    Entries go to pyBigWig in blocks of BLOCK bases aligned to each region's start, whatever the sizes of the
    writes, so the bigWig's bytes depend only on the values: a resumed run, which replays the values its partial
    file holds into a fresh bigWig before it continues, writes the same file as an uninterrupted run.

    Args:
        regions: the input's regions, in the order their values are written.
        contigs: the contigs of the bigWig's header and their lengths, in file order.
        decimals: the decimals the values were rounded to.
    """

    def __init__(self, regions: Sequence[Region], contigs: Mapping[str, int], decimals: int) -> None:
        self.regions, self.contigs, self.decimals = tuple(regions), dict(contigs), decimals
        self.dtype = units_dtype(decimals)
        self.target: Path | None = None
        self._writer: Any = None  # pyBigWig's file (the library has no types) from open() to finish()
        self._pending = np.zeros(0, dtype=self.dtype)  # values not yet added (less than a block)
        self._region = 0  # index of the region the pending values belong to
        self._offset = 0  # bases of that region already added
        self._covered = 0  # bases with a value added so far

    def open(self, target: Path, recorded: Iterable[bytes] = ()) -> None:
        """Start the bigWig at ``target`` (header: the contigs) and add the values already ``recorded``."""
        import pyBigWig

        self.target = target
        target.unlink(missing_ok=True)
        open(target, "wb").close()  # the OSError of an unwritable place (pyBigWig would crash the process there)
        self._writer = pyBigWig.open(str(target), "w")
        if self._writer is None:
            raise OSError(errno.EIO, "pyBigWig cannot create a bigWig here", str(target))
        self._call(self._writer.addHeader, list(self.contigs.items()), maxZooms=MAX_ZOOMS)
        for data in recorded:
            self.add(data)

    def add(self, data: bytes) -> None:
        """Values appended to the partial file (the bytes BigWigValues made), in order."""
        units = np.frombuffer(data, dtype=self.dtype)
        pending = np.concatenate([self._pending, units]) if len(self._pending) else units
        used = 0
        while self._region < len(self.regions):
            region = self.regions[self._region]
            stop = min(len(region), (self._offset // BLOCK + 1) * BLOCK)  # the region's next block end
            if len(pending) - used < stop - self._offset:
                break
            block = pending[used: used + stop - self._offset]
            self._add_block(region.contig, region.start + self._offset, block)
            used += len(block)
            self._offset = stop
            if self._offset == len(region):
                self._region, self._offset = self._region + 1, 0
        self._pending = pending[used:].copy()
        if len(self._pending) and self._region == len(self.regions):
            raise RuntimeError(f"{self.target}: more values than the regions hold")

    def finish(self) -> None:
        """Close the bigWig once every region's values were added, and check that it reads back complete."""
        if self._region != len(self.regions) or len(self._pending):
            raise RuntimeError(f"{self.target}: values end inside region {self._region} of {len(self.regions)}")
        assert self.target is not None  # open() came first
        writer, self._writer = self._writer, None
        self._call(writer.close)
        check_bigwig(self.target, self.contigs, self._covered)

    def abort(self) -> None:
        """Close without finishing (after an error) and remove the unfinished bigWig; never raises."""
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(RuntimeError):
                writer.close()
        if self.target is not None:
            self.target.unlink(missing_ok=True)

    def _add_block(self, contig: str, start: int, units: np.ndarray) -> None:
        """fixedStep entries (span 1) for each unmasked stretch of ``units`` [n] (bases from ``start``)."""
        valid = units != masked_units(self.decimals)
        edges = np.diff(valid.view(np.int8), prepend=0, append=0)
        values = units.astype(np.float64) / 10**self.decimals  # [n]: the nearest double to each written decimal
        for lo, hi in zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()):
            self._call(self._writer.addEntries, contig, start + lo, values=values[lo:hi], span=1, step=1)
        self._covered += int(valid.sum())

    def _call(self, method, *args, **kwargs) -> None:
        try:
            method(*args, **kwargs)
        except RuntimeError as exc:
            raise OSError(errno.EIO, f"pyBigWig failed while writing ({exc})", str(self.target)) from None


def check_bigwig(path: Path, contigs: Mapping[str, int], covered: int) -> None:
    """OSError unless ``path`` reads back as a bigWig with these contigs, ``covered`` bases with values, and zoom
    levels that answer for every contig (they are written last: a full disk can cut the file's tail without
    pyBigWig reporting it)."""
    import pyBigWig

    try:
        reader = pyBigWig.open(str(path))
    except RuntimeError:
        reader = None
    if reader is None:
        raise OSError(errno.EIO, "the bigWig written does not read back (a full disk?)", str(path))
    with reader:
        ok = reader.isBigWig() and dict(reader.chroms()) == dict(contigs) and \
            int(reader.header()["nBasesCovered"]) == covered
        try:
            for contig in contigs if ok and covered else ():
                reader.stats(contig, type="coverage")
        except RuntimeError:
            ok = False
    if not ok:
        raise OSError(errno.EIO, "the bigWig written does not read back complete (a full disk?)", str(path))
