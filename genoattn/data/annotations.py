"""Annotation readers: BED, GFF3/GTF and GenBank into one ``Interval`` type (0-based, half-open).

Conventions converted here, once:
- BED is 0-based half-open already: ``start``/``end`` are kept as written.
- GFF3 and GTF are 1-based closed: ``[s, e]`` becomes ``[s - 1, e)``.
- GenBank (Biopython) locations are already 0-based half-open; a joined location (spliced or
  origin-spanning feature) gives one Interval per part, all with the feature's name.

Every malformed line raises an ``InputError`` whose one-line message starts ``file:line:``.
Intervals on contigs that the FASTA lacks are skipped with one ``MissingContigWarning``
(see ``check_intervals``); intervals running past a contig's end are an error.
"""

from __future__ import annotations

import gzip
import re
import warnings
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from genoattn.data.fileio import check_readable_file, iter_text_lines, sniff_compression
from genoattn.errors import InputError

STRANDS = ("+", "-", ".")
BED_SUFFIXES = (".bed",)
GFF_SUFFIXES = (".gff", ".gff3", ".gtf")
GENBANK_SUFFIXES = (".gb", ".gbk", ".genbank", ".gbff")
_COMPRESSED_SUFFIXES = (".gz", ".bgz")
# Attribute keys that name a feature, most specific first.
_GFF3_NAME_KEYS = ("ID", "Name", "locus_tag", "gene", "Parent")
_GTF_NAME_KEYS = ("transcript_id", "gene_id", "gene_name")
_GENBANK_NAME_KEYS = ("locus_tag", "gene", "label", "protein_id", "product")
_GTF_ATTRIBUTE = re.compile(r'^\s*[A-Za-z_][\w.]*\s+"')


class MissingContigWarning(UserWarning):
    """Annotation intervals on contigs absent from the FASTA were skipped."""


@dataclass(frozen=True)
class Interval:
    """One annotated region on one contig, 0-based half-open ``[start, end)``."""

    contig: str
    start: int
    end: int
    strand: str = "."
    """``"+"``, ``"-"`` or ``"."`` (unknown / not stranded)."""
    name: str = ""
    score: float | None = None
    feature: str = ""
    """Feature type (GFF column 3 or GenBank feature key; empty for BED)."""
    phase: int | None = None
    """GFF phase / CDS reading-frame offset: bases to skip from this part's 5' end to reach a codon."""
    line: int | None = field(default=None, compare=False, repr=False)
    """1-based line of the source file (None when unknown); only used in error messages."""

    def __post_init__(self) -> None:
        if self.strand not in STRANDS:
            raise InputError(f"interval {self.contig}:{self.start}-{self.end}: strand must be one of "
                             f"{STRANDS}, got {self.strand!r}")
        if not 0 <= self.start <= self.end:
            raise InputError(f"interval {self.contig}:{self.start}-{self.end}: expected 0 <= start <= end")

    @property
    def length(self) -> int:
        """``end - start`` (a property, not ``__len__``, so that an empty interval is still truthy)."""
        return self.end - self.start


# ---------------------------------------------------------------------------------------------- BED


def read_bed(path: str | Path) -> list[Interval]:
    """Read a BED file (3 to 6+ columns; plain or gzip); ``track``/``browser``/``#`` lines are skipped.

    Columns: contig, start, end, [name, [score, [strand, ...]]]; ``.`` means "none" for name, score
    and strand; columns past the sixth are ignored. Tab-separated; a line without tabs is split on
    whitespace.
    """
    p = check_readable_file(path, "BED file")
    out: list[Interval] = []
    for number, line in iter_text_lines(p):
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        where = f"{p}:{number}"
        if len(cols) < 3:
            raise InputError(f"{where}: expected at least 3 BED columns (contig, start, end), found {len(cols)}")
        start = _parse_int(cols[1], where, "start")
        end = _parse_int(cols[2], where, "end")
        if start < 0:
            raise InputError(f"{where}: negative start {start}")
        if start > end:
            raise InputError(f"{where}: start {start} > end {end} on contig {cols[0]!r}")
        name = cols[3] if len(cols) > 3 and cols[3] != "." else ""
        score = _parse_score(cols[4], where) if len(cols) > 4 else None
        strand = _parse_strand(cols[5], where) if len(cols) > 5 else "."
        out.append(Interval(cols[0], start, end, strand, name, score, "", None, number))
    return out


# ---------------------------------------------------------------------------------------------- GFF


def read_gff(path: str | Path, feature_types: Sequence[str] | None = None) -> list[Interval]:
    """Read GFF3 or GTF (detected from the header or the attribute syntax), plain or gzip.

    Only features whose type (column 3) is in ``feature_types`` are kept (all when None). Reading
    stops at a ``##FASTA`` section. Coordinates go from 1-based closed to 0-based half-open.
    Names: GFF3 ``ID``, else ``Name``, ``locus_tag``, ``gene``, ``Parent``; GTF ``transcript_id``, else
    ``gene_id``.
    """
    p = check_readable_file(path, "GFF/GTF file")
    wanted = None if feature_types is None else set(_as_list(feature_types))
    is_gtf: bool | None = None
    seen_types: set[str] = set()
    out: list[Interval] = []
    for number, line in iter_text_lines(p):
        if line.startswith("##FASTA") or line.startswith(">"):
            break
        if line.startswith("##gff-version"):
            version = line.split()[1:2]
            is_gtf = (not version[0].startswith("3")) if version else is_gtf
            continue
        if not line.strip() or line.startswith("#"):
            continue
        where = f"{p}:{number}"
        cols = line.split("\t")
        if len(cols) < 8:
            hint = " (columns must be separated by tabs)" if len(line.split()) >= 8 else ""
            raise InputError(f"{where}: expected 9 tab-separated GFF columns, found {len(cols)}{hint}")
        contig, _source, ftype, s, e, score_s, strand_s, phase_s = cols[:8]
        attributes = cols[8] if len(cols) > 8 else ""
        seen_types.add(ftype)
        if wanted is not None and ftype not in wanted:
            continue
        start = _parse_int(s, where, "start")
        end = _parse_int(e, where, "end")
        if start < 1:
            raise InputError(f"{where}: start {start} < 1 (GFF coordinates are 1-based)")
        if start > end:
            raise InputError(f"{where}: start {start} > end {end} on contig {contig!r}")
        if is_gtf is None:
            is_gtf = p.name.lower().removesuffix(".gz").endswith(".gtf") or bool(_GTF_ATTRIBUTE.match(attributes))
        attrs = _gtf_attributes(attributes) if is_gtf else _gff3_attributes(attributes)
        keys = _GTF_NAME_KEYS if is_gtf else _GFF3_NAME_KEYS
        name = next((attrs[k] for k in keys if attrs.get(k)), "")
        out.append(Interval(contig, start - 1, end, _parse_strand(strand_s, where), name,
                            _parse_score(score_s, where), ftype, _parse_phase(phase_s, where), number))
    if wanted is not None and not out:
        warnings.warn(f"{p}: no features of type {sorted(wanted)}; the file has {sorted(seen_types)}",
                      stacklevel=2)
    return out


def _gff3_attributes(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.split(";"):
        key, sep, value = item.strip().partition("=")
        if sep:
            out[key] = unquote(value)
    return out


def _gtf_attributes(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.split(";"):
        key, _, value = item.strip().partition(" ")
        if key:
            out.setdefault(key, value.strip().strip('"'))
    return out


# ------------------------------------------------------------------------------------------ GenBank


def read_genbank(
    path: str | Path, feature_types: Sequence[str] | None = None
) -> tuple[dict[str, str], list[Interval]]:
    """Read a GenBank file (plain or gzip) with Biopython: ``({contig: sequence}, features)``.

    Contig names are the records' ``VERSION`` ids (falling back to the ``LOCUS`` name). Features are
    filtered by type (all when None, including ``source``); a joined location gives one Interval
    per part, with the CDS phase computed from ``/codon_start``. Sequences come upper-case
    (Biopython's GenBank parser upper-cases them; GenBank has no soft-masking).
    """
    from Bio import SeqIO  # lazy: Biopython's import is slow and only GenBank needs it
    from Bio.Seq import UndefinedSequenceError

    p = check_readable_file(path, "GenBank file")
    wanted = None if feature_types is None else set(_as_list(feature_types))
    opener = gzip.open if sniff_compression(p) else open
    try:
        with opener(p, "rt", encoding="ascii") as fh:
            records = list(SeqIO.parse(fh, "genbank"))
    except EOFError:
        raise InputError(f"{p}: compressed data ends early (truncated gzip file?)") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"{p}: corrupt gzip data: {exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{p}: not a text GenBank file (binary content)") from None
    except ValueError as exc:
        raise InputError(f"{p}: malformed GenBank file: {_one_line(exc)}") from None
    if not records:
        raise InputError(f"{p}: no GenBank records found (expected a file starting with a LOCUS line)")
    sequences: dict[str, str] = {}
    intervals: list[Interval] = []
    for record in records:
        contig = record.id if record.id and record.id != "<unknown id>" else record.name
        if contig in sequences:
            raise InputError(f"{p}: duplicate GenBank record name {contig!r}")
        try:
            sequences[contig] = str(record.seq)
        except UndefinedSequenceError:
            raise InputError(f"{p}: record {contig!r} has no sequence (ORIGIN section missing)") from None
        if not sequences[contig]:
            raise InputError(f"{p}: record {contig!r} has an empty sequence")
        for feature in record.features:
            if wanted is None or feature.type in wanted:
                intervals.extend(_genbank_feature_intervals(contig, feature))
    return sequences, intervals


def _genbank_feature_intervals(contig: str, feature) -> list[Interval]:  # noqa: ANN001 (Bio SeqFeature)
    qualifiers = feature.qualifiers
    name = next((qualifiers[k][0] for k in _GENBANK_NAME_KEYS if qualifiers.get(k)), "")
    codon_start = int(qualifiers.get("codon_start", ["1"])[0]) if feature.type == "CDS" else None
    out = []
    consumed = 0  # bases of the spliced feature before this part (parts come in biological order)
    for part in feature.location.parts:
        strand = {1: "+", -1: "-"}.get(part.strand, ".")
        phase = None if codon_start is None else (codon_start - 1 - consumed) % 3
        out.append(Interval(contig, int(part.start), int(part.end), strand, name, None, feature.type, phase))
        consumed += int(part.end) - int(part.start)
    return out


# ----------------------------------------------------------------------------------- dispatch/check


def read_annotation(path: str | Path, feature_types: Sequence[str] | None = None) -> list[Interval]:
    """Read any supported annotation file, chosen by extension (optionally followed by ``.gz``).

    ``.bed`` -> read_bed (``feature_types`` does not apply: every BED line is kept),
    ``.gff/.gff3/.gtf`` -> read_gff, ``.gb/.gbk/.genbank/.gbff`` -> read_genbank (features only).
    """
    p = Path(path)
    suffix = annotation_suffix(p)
    if suffix in BED_SUFFIXES:
        return read_bed(p)
    if suffix in GFF_SUFFIXES:
        return read_gff(p, feature_types)
    if suffix in GENBANK_SUFFIXES:
        return read_genbank(p, feature_types)[1]
    raise InputError(f"{p}: unknown annotation format {suffix or '(no extension)'!r}; expected one of "
                     f"{', '.join(BED_SUFFIXES + GFF_SUFFIXES + GENBANK_SUFFIXES)} (optionally .gz)")


def annotation_suffix(path: Path) -> str:
    """Lower-case extension of ``path`` ignoring a trailing ``.gz``/``.bgz`` (``a.gff3.gz`` -> ``.gff3``)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED_SUFFIXES:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def check_intervals(
    intervals: Iterable[Interval], contig_lengths: Mapping[str, int], source: str | Path
) -> list[Interval]:
    """Keep the intervals that lie on the FASTA's contigs; check that they end within them.

    Intervals on contigs missing from ``contig_lengths`` are skipped with one
    ``MissingContigWarning`` naming ``source`` and the missing contigs (annotation files often
    cover more sequences than a FASTA subset). An interval ending past its contig raises
    ``InputError`` naming ``source``, the line, the contig and the coordinates.
    """
    kept: list[Interval] = []
    missing: dict[str, int] = {}  # contig -> number of skipped intervals, in first-seen order
    for iv in intervals:
        length = contig_lengths.get(iv.contig)
        if length is None:
            missing[iv.contig] = missing.get(iv.contig, 0) + 1
            continue
        if iv.end > length:
            where = f"{source}:{iv.line}" if iv.line is not None else f"{source}"
            label = f"{iv.feature or 'interval'} {iv.name!r}" if iv.name else (iv.feature or "interval")
            raise InputError(f"{where}: {label} on contig {iv.contig!r} at [{iv.start}, {iv.end}) (0-based) "
                             f"runs past the contig's end ({length} bp)")
        kept.append(iv)
    if missing:
        names = list(missing)
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        warnings.warn(f"{source}: skipped {sum(missing.values())} intervals on {len(names)} contigs not in the "
                      f"FASTA: {shown}", MissingContigWarning, stacklevel=2)
    return kept


# ------------------------------------------------------------------------------------------ helpers


def _as_list(feature_types: Sequence[str] | str) -> list[str]:
    return [feature_types] if isinstance(feature_types, str) else list(feature_types)


def _parse_int(text: str, where: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{where}: {what} coordinate {text!r} is not an integer") from None


def _parse_score(text: str, where: str) -> float | None:
    if text in (".", ""):
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{where}: score {text!r} is not a number or '.'") from None


def _parse_strand(text: str, where: str) -> str:
    if text in STRANDS:
        return text
    if text == "?":  # GFF3: stranded but unknown
        return "."
    raise InputError(f"{where}: strand {text!r} is not '+', '-' or '.'")


def _parse_phase(text: str, where: str) -> int | None:
    if text == ".":
        return None
    if text in ("0", "1", "2"):
        return int(text)
    raise InputError(f"{where}: phase {text!r} is not 0, 1, 2 or '.'")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
