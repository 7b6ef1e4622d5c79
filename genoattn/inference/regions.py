"""What to predict in each input: every contig, or the regions given with ``--regions``.

A region is given as ``CONTIG`` (the whole contig), ``CONTIG:START-END`` (1-based, both ends included, as
samtools writes regions; commas in numbers are allowed) or ``CONTIG:START`` (to the contig end), or as a BED
file (0-based half-open ``contig start end`` lines; ``#``, ``track`` and ``browser`` lines are skipped; gzip
allowed). A contig name that itself contains ``:`` is matched whole first. Regions are checked against each
input: a contig found in no input, or coordinates past a contig's end, stop the run with one line naming the
region's source. Overlapping or touching regions of a contig are merged, and regions are predicted in file
order of their contigs, so the outputs stay sorted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from genoattn.data.fileio import iter_text_lines
from genoattn.data.genome import Genome
from genoattn.errors import InputError

_SPAN = re.compile(r"^(?P<start>[\d,]+)(?:-(?P<end>[\d,]+))?$")
_BED_SKIP = ("#", "track", "browser")


@dataclass(frozen=True)
class Region:
    """Bases ``[start, end)`` of ``contig`` (``length`` bp long); a unit of prediction, outputs and resume."""

    contig: str
    start: int
    end: int
    length: int

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end == self.length

    @property
    def name(self) -> str:
        """The contig name for a whole contig, else ``contig:start-end`` (1-based, inclusive)."""
        return self.contig if self.whole else f"{self.contig}:{self.start + 1}-{self.end}"

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class RegionSpec:
    """One requested region before it is matched to an input: the text or BED line, and where it came from."""

    text: str  # CONTIG[:START[-END]] (1-based) for --regions strings
    source: str  # "--regions chr1:5-10" or "regions.bed:3"
    bed: tuple[str, int, int] | None = None  # (contig, start, end), 0-based half-open, for BED lines


def parse_regions(values: list[str] | tuple[str, ...]) -> list[RegionSpec]:
    """``--regions`` values: an existing file is read as BED, anything else is a region string."""
    specs: list[RegionSpec] = []
    for value in values:
        path = Path(value).expanduser()
        if path.is_file():
            specs += read_bed_regions(path)
        elif not value.strip():
            raise InputError("--regions: empty region (expected CONTIG, CONTIG:START-END or a BED file)")
        else:
            specs.append(RegionSpec(value.strip(), f"--regions {value.strip()}"))
    return specs


def read_bed_regions(path: Path) -> list[RegionSpec]:
    """Regions of a BED file (first three columns); InputError naming the line for a malformed one."""
    specs = []
    for number, line in iter_text_lines(path):
        if not line.strip() or line.startswith(_BED_SKIP):
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        where = f"{path}:{number}"
        if len(cols) < 3:
            raise InputError(f"{where}: expected 'contig start end' (BED), got {line[:40]!r}")
        try:
            start, end = int(cols[1]), int(cols[2])
        except ValueError:
            raise InputError(f"{where}: BED start and end must be integers, got {cols[1]!r}, {cols[2]!r}") from None
        if not 0 <= start < end:
            raise InputError(f"{where}: expected 0 <= start < end (BED, 0-based half-open), got {start}, {end}")
        specs.append(RegionSpec(line, where, (cols[0], start, end)))
    if not specs:
        raise InputError(f"{path}: no regions in this BED file")
    return specs


def _split(spec: RegionSpec, contigs: dict[str, int]) -> tuple[str, int | None, int | None] | None:
    """(contig, start, end) of a spec in this genome (0-based; None: whole/open end), None if not its contig."""
    if spec.bed is not None:
        return spec.bed if spec.bed[0] in contigs else None
    if spec.text in contigs:
        return spec.text, None, None
    contig, colon, span = spec.text.rpartition(":")
    if not colon or contig not in contigs:
        return None
    match = _SPAN.match(span)
    if match is None:
        raise InputError(f"{spec.source}: expected CONTIG:START-END with 1-based positions, got {spec.text!r}")
    start = int(match["start"].replace(",", ""))
    end = int(match["end"].replace(",", "")) if match["end"] else None
    if start < 1 or (end is not None and end < start):
        raise InputError(f"{spec.source}: expected 1 <= START <= END (1-based, inclusive), got {spec.text!r}")
    return contig, start - 1, end


def resolve_regions(specs: list[RegionSpec], genome: Genome) -> tuple[list[Region], set[int]]:
    """The regions of ``specs`` on this genome's contigs, merged and in file order, and the indexes of the specs
    that matched a contig here. InputError for coordinates past a contig's end."""
    contigs = genome.contigs
    order = {name: i for i, name in enumerate(contigs)}
    found: list[tuple[str, int, int]] = []
    matched: set[int] = set()
    for i, spec in enumerate(specs):
        parts = _split(spec, contigs)
        if parts is None:
            continue
        contig, start, end = parts
        length = contigs[contig]
        start = 0 if start is None else start
        end = length if end is None else end
        if end > length or start >= max(length, 1):
            raise InputError(f"{spec.source}: {contig} is {length:,} bp in {genome.path}; the region "
                             f"{start + 1:,}-{end:,} (1-based) ends past it")
        matched.add(i)
        if end > start:
            found.append((contig, start, end))
    found.sort(key=lambda r: (order[r[0]], r[1], r[2]))
    merged: list[Region] = []
    for contig, start, end in found:
        last = merged[-1] if merged else None
        if last is not None and last.contig == contig and start <= last.end:
            merged[-1] = Region(contig, last.start, max(last.end, end), last.length)
        else:
            merged.append(Region(contig, start, end, contigs[contig]))
    return merged, matched


def whole_contigs(genome: Genome) -> list[Region]:
    """Every contig of a genome as one region, in file order."""
    return [Region(name, 0, length, length) for name, length in genome.contigs.items()]


def regions_per_input(specs: list[RegionSpec] | None, genomes: list[Genome]) -> list[list[Region]]:
    """The regions to predict in each genome: all contigs without specs, else the specs' regions on its contigs.
    InputError for a spec whose contig is in none of the inputs (naming the contigs of the first)."""
    if not specs:
        return [whole_contigs(genome) for genome in genomes]
    per_input, matched = [], set()
    for genome in genomes:
        regions, hits = resolve_regions(specs, genome)
        per_input.append(regions)
        matched |= hits
    for i, spec in enumerate(specs):
        if i not in matched:
            names = list(genomes[0].contigs) if genomes else []
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            inputs = ", ".join(str(g.path) for g in genomes)
            raise InputError(f"{spec.source}: no contig named {_contig_of(spec)!r} in {inputs} "
                             f"({len(names)} contigs: {shown})")
    return per_input


def _contig_of(spec: RegionSpec) -> str:
    if spec.bed is not None:
        return spec.bed[0]
    contig, colon, span = spec.text.rpartition(":")
    return contig if colon and _SPAN.match(span) else spec.text
