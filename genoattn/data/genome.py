"""Random access to genome sequence: one ``Genome`` class over pyfaidx for every input we accept.

Accepted inputs (recognised from content, not only from the name):
- FASTA / multi-FASTA, uncompressed: read in place.
- bgzip (BGZF) FASTA: read in place by pyfaidx (needs a ``.gzi`` as well as the ``.fai``).
- plain gzip FASTA: pyfaidx cannot seek it, so it is decompressed once into the cache.
- GenBank (``.gb/.gbk/.genbank/.gbff`` or a file starting with ``LOCUS``, optionally gzip):
  its sequences are written once as FASTA into the cache.
- a file whose name says another compression than its content (plain text called ``x.fa.gz``, BGZF called
  ``x.fa``): pyfaidx goes by the name, so it reads the file through a link in the cache named after the content.

Indexes: the ``.fai`` (and ``.gzi``) go beside the FASTA when its folder and the file itself are
writable, else into the cache. An index beside the FASTA that is older than it, or whose records
do not match the file's size, is rebuilt. Cache entries are keyed by the input's absolute path,
size and modification time, so a changed input gets a fresh entry. Input files are never modified.

Validation happens in one streaming pass when an index is built (not on every open): empty file,
no ``>`` header, duplicate names, invalid or binary characters, lines of unequal width and mixed
line endings each raise a one-line ``InputError`` naming the file, line and contig. Windows line
endings (CRLF) are accepted.
"""

from __future__ import annotations

import hashlib
import operator
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyfaidx

from genoattn.atomic import atomic_target, atomic_write_bytes
from genoattn.data.annotations import GENBANK_SUFFIXES, annotation_suffix, read_genbank
from genoattn.data.fileio import check_readable_file, iter_binary_lines, sniff_compression
from genoattn.errors import InputError
from genoattn.settings import Settings, current_settings

FASTA_LINE_WIDTH = 60  # line width of the FASTA files this module writes (GenBank conversion)
_SEQUENCE_BYTES = bytes(range(ord("A"), ord("Z") + 1)) + bytes(range(ord("a"), ord("z") + 1)) + b"-*."
# Slack allowed between a .fai's last record end and the file size (a final newline, a few blank lines).
_FAI_TAIL_SLACK = 64
# IUPAC nucleotide codes (read as ACGT, or N for ambiguity codes; U as T) and gaps: any other letter (protein
# E, F, I, L, P, Q, ...) means the file is not DNA.
IUPAC_DNA = "ACGTUNRYSWKMBDHV"
_DNA_BYTES = (IUPAC_DNA + IUPAC_DNA.lower() + "-.").encode()
# pyfaidx picks its reader from the file name: BGZF for these suffixes, a refusal for the second group.
_PYFAIDX_BGZF_SUFFIXES = (".bgz", ".gz")
_PYFAIDX_REFUSED_SUFFIXES = (".bz2", ".zip")


def default_cache_dir(settings: Settings | None = None) -> Path:
    """Folder for decompressed/converted genomes and indexes of read-only FASTA files: the setting ``cache_dir``
    (``$GENOATTN_CACHE`` if set, else ``~/.cache/genoattn``)."""
    return (settings or current_settings()).cache_dir


def _translation_tables() -> tuple[dict[int, str], dict[int, str], dict[int, int]]:
    """(keep case, upper-case) tables mapping IUPAC/other codes to N, U to T; and the complement table."""
    keep: dict[int, str] = {}
    for upper in map(chr, range(ord("A"), ord("Z") + 1)):
        target = upper if upper in "ACGTN" else ("T" if upper == "U" else "N")
        keep[ord(upper)] = target
        keep[ord(upper.lower())] = target.lower()
    for gap in "-*.":
        keep[ord(gap)] = "N"
    upper_table = {code: value.upper() for code, value in keep.items()}
    complement = str.maketrans("ACGTNacgtn", "TGCANtgcan")
    return keep, upper_table, complement


_KEEP_CASE, _UPPER_CASE, _COMPLEMENT = _translation_tables()


@dataclass(frozen=True)
class FaiRecord:
    """One line of a samtools ``.fai`` index."""

    name: str
    length: int
    offset: int  # byte offset of the first base (in the uncompressed stream)
    line_bases: int
    line_bytes: int

    def line(self) -> str:
        return f"{self.name}\t{self.length}\t{self.offset}\t{self.line_bases}\t{self.line_bytes}\n"

    def end_offset(self) -> int:
        """Byte offset just past the record's last line ending, as samtools/pyfaidx compute it."""
        if not self.line_bases:
            return self.offset
        lines = -(-self.length // self.line_bases)
        return self.offset + self.length + lines * (self.line_bytes - self.line_bases)


class _RecordScan:
    """State of one FASTA record during the validation scan."""

    def __init__(self, name: str, header_line: int, offset: int) -> None:
        self.name, self.header_line, self.offset = name, header_line, offset
        self.length = self.line_bases = self.line_bytes = 0
        self.short_line = 0  # line number of a line shorter than the record's width (must be the last)
        self.blank_line = 0  # line number of a blank line (only allowed after the last sequence line)

    def record(self) -> FaiRecord:
        return FaiRecord(self.name, self.length, self.offset, self.line_bases, self.line_bytes)


def scan_fasta(lines: Iterable[bytes], source: str | Path, sink: BinaryIO | None = None) -> list[FaiRecord]:
    """Validate a FASTA stream in one pass and return its ``.fai`` records (optionally copying it to ``sink``).

    ``lines`` are raw lines with their endings (as a binary file yields them); ``source`` names the
    file in error messages. Raises ``InputError`` on: no records, text before the first ``>``, an
    empty or duplicate name, binary or invalid characters, lines of unequal width, blank lines
    inside a sequence, mixed line endings.
    """
    records: list[FaiRecord] = []
    first_seen: dict[str, int] = {}
    rec: _RecordScan | None = None
    offset = 0
    number = 0
    for number, raw in enumerate(lines, start=1):
        if sink is not None:
            sink.write(raw)
        size = len(raw)
        body = raw.rstrip(b"\r\n")
        if body.startswith(b">"):
            if rec is not None:
                records.append(rec.record())
            name = _header_name(body, source, number)
            if name in first_seen:
                raise InputError(f"{source}:{number}: duplicate contig name {name!r} "
                                 f"(first defined at line {first_seen[name]})")
            first_seen[name] = number
            rec = _RecordScan(name, number, offset + size)
        elif rec is None:
            if body.strip():
                _raise_no_header(body, source, number)
        elif not body:
            rec.blank_line = rec.blank_line or number
        else:
            _check_sequence_line(rec, body, size - len(body), source, number)
            rec.length += len(body)
        offset += size
    if rec is not None:
        records.append(rec.record())
    if not records:
        detail = f"only {number} blank lines" if number else "empty after decompression"
        raise InputError(f"{source}: no FASTA records, expected a '>' header line ({detail})")
    return records


def _header_name(body: bytes, source: str | Path, number: int) -> str:
    if _is_binary(body):
        raise InputError(f"{source}:{number}: binary content in a header line (not a FASTA file?)")
    if b"\r" in body:
        raise InputError(f"{source}:{number}: carriage return inside a line (old Mac CR-only line endings "
                         f"are not supported; convert to LF or CRLF)")
    fields = body[1:].decode("utf-8", errors="replace").split()
    if not fields:
        raise InputError(f"{source}:{number}: header line '>' has no contig name")
    return fields[0]


def _raise_no_header(body: bytes, source: str | Path, number: int) -> None:
    if _is_binary(body):
        raise InputError(f"{source}:{number}: binary content, not a text FASTA file")
    shown = body[:30].decode("ascii", errors="replace")
    raise InputError(f"{source}:{number}: no '>' header before sequence data (line starts {shown!r})")


def _check_sequence_line(rec: _RecordScan, body: bytes, ending: int, source: str | Path, number: int) -> None:
    where = f"{source}:{number}: contig {rec.name!r}"
    bad = body.translate(None, _SEQUENCE_BYTES)
    if bad:
        if b"\r" in bad:
            raise InputError(f"{where}: carriage return inside a line (old Mac CR-only line endings are "
                             f"not supported; convert to LF or CRLF)")
        if _is_binary(bad):
            raise InputError(f"{where}: binary content in the sequence (byte 0x{bad[0]:02x}; not a FASTA file?)")
        raise InputError(f"{where}: invalid character {chr(bad[0])!r} in the sequence")
    if rec.blank_line:
        raise InputError(f"{source}:{rec.blank_line}: contig {rec.name!r}: blank line inside the sequence")
    if rec.short_line:
        raise InputError(f"{source}:{rec.short_line}: contig {rec.name!r}: line has fewer bases than the "
                         f"record's width {rec.line_bases} but is not its last line (lines of unequal width)")
    if not rec.line_bases:
        rec.line_bases, rec.line_bytes = len(body), len(body) + ending
        return
    if len(body) > rec.line_bases:
        raise InputError(f"{where}: line has {len(body)} bases but the record's lines have "
                         f"{rec.line_bases} (lines of unequal width)")
    if ending and ending != rec.line_bytes - rec.line_bases:
        raise InputError(f"{where}: line ending differs from the record's first line (mixed LF/CRLF)")
    if len(body) < rec.line_bases:
        rec.short_line = number


def _is_binary(data: bytes) -> bool:
    return any(b < 9 or 13 < b < 32 or b == 127 or b >= 128 for b in data[:4096])


def write_fai(records: list[FaiRecord], target: Path, fasta: Path | None = None) -> None:
    """Write a ``.fai`` atomically (temporary file, then rename).

    If ``fasta`` has a modification time in the future (clock skew), the index gets the same time
    so that it is not mistaken for stale on the next open.
    """
    atomic_write_bytes(target, "".join(r.line() for r in records).encode())
    if fasta is not None:
        fasta_ns, fai_ns = fasta.stat().st_mtime_ns, target.stat().st_mtime_ns
        if fai_ns < fasta_ns:
            os.utime(target, ns=(fasta_ns, fasta_ns))


def fasta_text(sequences: Mapping[str, str]) -> str:
    """FASTA of ``{name: sequence}`` with ``FASTA_LINE_WIDTH``-base lines."""
    parts = []
    for name, seq in sequences.items():
        parts.append(f">{name}\n")
        parts.extend(f"{seq[i:i + FASTA_LINE_WIDTH]}\n" for i in range(0, len(seq), FASTA_LINE_WIDTH))
    return "".join(parts)


def write_fasta(sequences: Mapping[str, str], path: str | Path) -> Path:
    """Write ``{name: sequence}`` as a plain FASTA file (e.g. a few contigs to predict); returns the path."""
    path = Path(path)
    atomic_write_bytes(path, fasta_text(sequences).encode("ascii", errors="replace"))
    return path


def read_fai(path: Path) -> list[FaiRecord]:
    """Parse a ``.fai`` file (raises InputError if malformed)."""
    out = []
    with open(path) as fh:
        for number, line in enumerate(fh, start=1):
            cols = line.rstrip("\r\n").split("\t")
            try:
                out.append(FaiRecord(cols[0], *map(int, cols[1:5])))
            except (ValueError, TypeError, IndexError):
                raise InputError(f"{path}:{number}: malformed .fai line (expected 5 tab-separated fields)") from None
    return out


def _remove_if_empty(folder: Path) -> None:
    """Remove a cache entry folder that a failed conversion left empty."""
    try:
        folder.rmdir()
    except OSError:
        pass


def _is_genbank(path: Path, compression: str | None) -> bool:
    if annotation_suffix(path) in GENBANK_SUFFIXES:
        return True
    lines = iter_binary_lines(path, compression)
    try:
        return next(lines, b"").startswith(b"LOCUS")
    finally:
        lines.close()


def _pyfaidx_misreads(name: str, bgzf: bool) -> bool:
    """True when pyfaidx, which goes by the file name, would read this content with the wrong reader or refuse it."""
    lower = name.lower()
    return lower.endswith(_PYFAIDX_REFUSED_SUFFIXES) or lower.endswith(_PYFAIDX_BGZF_SUFFIXES) != bgzf


def _content_name(name: str, bgzf: bool) -> str:
    """A file name pyfaidx reads right: ``x.fa`` for plain text (``x.fa.gz`` named wrongly), ``x.fa.gz`` for BGZF."""
    lower = name.lower()
    for suffix in _PYFAIDX_BGZF_SUFFIXES + _PYFAIDX_REFUSED_SUFFIXES + (".bgzf",):
        if lower.endswith(suffix) and len(name) > len(suffix):
            name, lower = name[: -len(suffix)], lower[: -len(suffix)]
            break
    return f"{name}.gz" if bgzf else name


def _can_write_beside(path: Path) -> bool:
    """True when ``path`` and its folder are writable (permission bits checked too: root ignores them)."""
    try:
        file_mode, dir_mode = path.stat().st_mode, path.parent.stat().st_mode
    except OSError:
        return False
    return bool(file_mode & 0o222 and dir_mode & 0o222) and os.access(path.parent, os.W_OK)


class Genome:
    """Contig names, lengths and sequence windows of one FASTA/GenBank file (see the module doc).

    Coordinates are 0-based half-open. Picklable: the pyfaidx handle is dropped when pickled and
    reopened lazily, once per process (so DataLoader workers each get their own file handle).
    """

    def __init__(self, path: str | Path, *, uppercase: bool = True, cache_dir: str | Path | None = None) -> None:
        self.path: Path = check_readable_file(path, "FASTA or GenBank file")
        self.uppercase = uppercase
        self.cache_dir: Path = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        self._faidx: pyfaidx.Faidx | None = None
        self._pid: int | None = None
        self.fasta_path, self.index_path, self.gzi_path = self._prepare()
        self._contigs: dict[str, int] = {r.name: r.length for r in read_fai(self.index_path)}
        self._handle()  # open now so that errors show up here, not in a worker

    # ------------------------------------------------------------------------------ public API

    @property
    def contigs(self) -> dict[str, int]:
        """Contig name -> length in bp, in file order (a fresh dict each call)."""
        return dict(self._contigs)

    @property
    def total_length(self) -> int:
        return sum(self._contigs.values())

    def length(self, contig: str) -> int:
        """Length of one contig (InputError if unknown)."""
        try:
            return self._contigs[contig]
        except KeyError:
            raise InputError(self._unknown_contig(contig)) from None

    def __contains__(self, contig: object) -> bool:
        return contig in self._contigs

    def __len__(self) -> int:
        return len(self._contigs)

    def fetch(self, contig: str, start: int, end: int, strand: str = "+") -> str:
        """Sequence of ``contig[start:end]`` (0-based half-open); strand ``"-"`` gives the reverse complement
        (``"."``, as in an unstranded Interval, reads like ``"+"``).

        IUPAC ambiguity codes (and gaps) become ``N``, ``U`` becomes ``T``; lowercase (soft-masked)
        bases are kept only when the genome was opened with ``uppercase=False``.
        """
        length = self._contigs.get(contig)
        if length is None:
            raise InputError(self._unknown_contig(contig))
        try:
            start, end = operator.index(start), operator.index(end)
        except TypeError:
            raise InputError(f"{self.path}: fetch coordinates must be integers, got {start!r}, {end!r}") from None
        if not 0 <= start <= end <= length:
            raise InputError(f"{self.path}: contig {contig!r} is {length} bp; cannot fetch [{start}, {end}) "
                             f"(expected 0 <= start <= end <= {length})")
        if strand not in ("+", "-", "."):
            raise InputError(f"{self.path}: strand must be '+', '-' or '.' (= '+'), got {strand!r}")
        if start == end:
            return ""
        try:
            raw = self._handle().from_file(contig, start + 1, end)  # pyfaidx: 1-based closed
        except (pyfaidx.FetchError, OSError, ValueError) as exc:
            raise InputError(f"{self.path}: reading contig {contig!r} [{start}, {end}) failed: {exc}") from None
        seq = raw.translate(_UPPER_CASE if self.uppercase else _KEEP_CASE)
        if len(seq) != end - start:
            raise InputError(f"{self.path}: contig {contig!r}: got {len(seq)} bases for [{start}, {end}); "
                             f"file changed since indexing? (index {self.index_path})")
        return seq.translate(_COMPLEMENT)[::-1] if strand == "-" else seq

    def non_dna_letters(self, max_letters: int = 4_000_000) -> tuple[dict[str, int], int]:
        """Letters that are not IUPAC nucleotide codes or gaps (e.g. protein letters) in the first ``max_letters``
        of the file, in contig order: (letter -> count, letters looked at). ``fetch`` reads them as N."""
        found: dict[str, int] = {}
        seen = 0
        for contig, length in self._contigs.items():
            if seen >= max_letters:
                break
            take = min(length, max_letters - seen)
            raw = self._handle().from_file(contig, 1, take) if take else ""
            for byte in raw.encode("latin-1", "replace").translate(None, _DNA_BYTES):
                found[chr(byte)] = found.get(chr(byte), 0) + 1
            seen += take
        return found, seen

    def close(self) -> None:
        """Close the file handle (fetch reopens it if needed)."""
        if self._faidx is not None:
            self._faidx.close()
        self._faidx, self._pid = None, None

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_faidx"], state["_pid"] = None, None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"Genome({str(self.path)!r}, contigs={len(self._contigs)}, bp={self.total_length})"

    # ------------------------------------------------------------------------------ internals

    def _unknown_contig(self, contig: str) -> str:
        names = list(self._contigs)
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        return f"{self.path}: unknown contig {contig!r} (the file has {len(names)} contigs: {shown})"

    def _handle(self) -> pyfaidx.Faidx:
        """The pyfaidx handle of this process (reopened after pickling or fork)."""
        if self._faidx is None or self._pid != os.getpid():
            if not self.index_path.exists() or (self.gzi_path is not None and not self.gzi_path.exists()):
                self.fasta_path, self.index_path, self.gzi_path = self._prepare()  # cache was cleared
            try:
                self._faidx = pyfaidx.Faidx(
                    str(self.fasta_path), indexname=str(self.index_path),
                    gzi_indexname=str(self.gzi_path) if self.gzi_path else None,
                    as_raw=True, strict_bounds=True, rebuild=False, build_index=False,
                )
            except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, OSError, ValueError) as exc:
                raise InputError(f"{self.path}: cannot open with pyfaidx: {' '.join(str(exc).split())}") from None
            self._pid = os.getpid()
        return self._faidx

    def _cache_entry(self) -> Path:
        """Cache folder for this input, keyed by absolute path, size and mtime."""
        st = self.path.stat()
        key = hashlib.sha256(f"{self.path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
        entry = self.cache_dir / "genomes" / f"{self.path.name}-{key}"
        try:
            entry.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{self.path}: cannot create cache folder {entry}: {exc.strerror}") from None
        return entry

    def _prepare(self) -> tuple[Path, Path, Path | None]:
        """Make sure a readable FASTA and its index exist; return (fasta, fai, gzi or None)."""
        compression = sniff_compression(self.path)
        if _is_genbank(self.path, compression):
            fasta = self._genbank_to_cache()
            return fasta, Path(f"{fasta}.fai"), None
        if compression == "gzip":
            fasta = self._gunzip_to_cache()
            return fasta, Path(f"{fasta}.fai"), None
        bgzf = compression == "bgzf"
        if _pyfaidx_misreads(self.path.name, bgzf):
            return self._link_in_cache(bgzf)
        beside = Path(f"{self.path}.fai")
        if beside.exists() and self._fai_is_fresh(beside, bgzf):
            if not bgzf:
                return self.path, beside, None
            gzi = Path(f"{self.path}.gzi")
            if gzi.exists() and gzi.stat().st_mtime_ns >= self.path.stat().st_mtime_ns:
                return self.path, beside, gzi
        if _can_write_beside(self.path):
            try:
                return self._index_at(beside.parent, bgzf)
            except PermissionError:
                pass  # e.g. a read-only mount: fall back to the cache
        entry = self._cache_entry()
        fai = entry / f"{self.path.name}.fai"
        if fai.exists():
            return self.path, fai, (entry / f"{self.path.name}.gzi") if bgzf else None
        return self._index_at(entry, bgzf)

    def _index_at(self, folder: Path, bgzf: bool, source: Path | None = None) -> tuple[Path, Path, Path | None]:
        """Validate the FASTA and write its .fai (and, for BGZF, .gzi) into ``folder``; ``source`` is the path
        pyfaidx opens (default: the input itself)."""
        source = source or self.path
        fai = folder / f"{source.name}.fai"
        records = scan_fasta(iter_binary_lines(self.path, "gzip" if bgzf else None), self.path)
        write_fai(records, fai, self.path)
        if not bgzf:
            return source, fai, None
        gzi = folder / f"{source.name}.gzi"
        gzi.unlink(missing_ok=True)  # a stale .gzi would be trusted by pyfaidx
        try:  # pyfaidx builds the .gzi when it is missing
            pyfaidx.Faidx(str(source), indexname=str(fai), gzi_indexname=str(gzi), rebuild=False).close()
        except (pyfaidx.FastaIndexingError, OSError, ValueError) as exc:
            fai.unlink(missing_ok=True)  # no index left behind for a file that cannot be read
            raise InputError(f"{self.path}: cannot index BGZF file: {' '.join(str(exc).split())}") from None
        return source, fai, gzi

    def _link_in_cache(self, bgzf: bool) -> tuple[Path, Path, Path | None]:
        """Read a file whose name misleads pyfaidx (see the module doc) through a link in the cache named after
        its content (a copy where links are not allowed); its indexes go there too, nothing beside the input."""
        entry = self._cache_entry()
        link = entry / _content_name(self.path.name, bgzf)
        fai, gzi = Path(f"{link}.fai"), Path(f"{link}.gzi")
        if fai.exists() and (not bgzf or gzi.exists()):  # the indexes are written last: the entry is complete
            return link, fai, gzi if bgzf else None
        if not link.exists():
            try:
                with atomic_target(link) as tmp:
                    try:
                        tmp.symlink_to(self.path.resolve())
                    except OSError:
                        shutil.copyfile(self.path, tmp)
            except OSError as exc:
                raise InputError(f"{self.path}: cannot create {link}: {exc.strerror or exc}") from None
        return self._index_at(entry, bgzf, source=link)

    def _fai_is_fresh(self, fai: Path, bgzf: bool) -> bool:
        """An existing .fai is fresh when not older than the FASTA and, if uncompressed, matching its size."""
        try:
            if fai.stat().st_mtime_ns < self.path.stat().st_mtime_ns:
                return False
            records = read_fai(fai)
        except (OSError, InputError):
            return False
        if not records:
            return False
        if bgzf:
            return True
        last = records[-1]
        end, size = last.end_offset(), self.path.stat().st_size
        newline = last.line_bytes - last.line_bases
        return end - newline <= size <= end + _FAI_TAIL_SLACK

    def _gunzip_to_cache(self) -> Path:
        """Decompress a plain-gzip FASTA once into the cache (validating it on the way); return its path."""
        entry = self._cache_entry()
        name = self.path.name[:-3] if self.path.name.lower().endswith(".gz") else f"{self.path.name}.fa"
        fasta = entry / name
        if Path(f"{fasta}.fai").exists():  # the .fai is written last, so the entry is complete
            return fasta
        try:
            with atomic_target(fasta) as tmp, open(tmp, "wb") as sink:
                records = scan_fasta(iter_binary_lines(self.path, "gzip"), self.path, sink)
        except InputError:
            _remove_if_empty(entry)  # the temporary file is gone already
            raise
        write_fai(records, Path(f"{fasta}.fai"))
        return fasta

    def _genbank_to_cache(self) -> Path:
        """Write a GenBank file's sequences once as FASTA into the cache; return its path."""
        entry = self._cache_entry()
        fasta = entry / f"{self.path.name}.fa"
        if Path(f"{fasta}.fai").exists():
            return fasta
        try:
            sequences, _ = read_genbank(self.path, feature_types=())
        except InputError:
            _remove_if_empty(entry)
            raise
        data = fasta_text(sequences).encode("ascii", errors="replace")
        records = scan_fasta(data.splitlines(keepends=True), self.path)
        atomic_write_bytes(fasta, data)
        write_fai(records, Path(f"{fasta}.fai"))
        return fasta
