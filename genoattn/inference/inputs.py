"""The FASTA inputs of a run: opened and checked before any work, and the stem that names each one's outputs."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from genoattn.data.genome import Genome
from genoattn.errors import InputError

log = logging.getLogger("genoattn.predict")

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas", ".fsa", ".ffn", ".seq", ".mfa", ".gb", ".gbk", ".gbff",
                  ".genbank")
COMPRESSION_SUFFIXES = (".gz", ".bgz", ".bgzf")
NOT_DNA_FRACTION = 0.1  # an input with at least this share of letters outside IUPAC DNA is refused (protein?)
ALPHABET_SAMPLE = 4_000_000  # letters of each input checked for that, from its start


def output_stem(path: Path) -> str:
    """File name without compression and FASTA suffixes (``genome.fa.gz`` -> ``genome``)."""
    name = path.name
    for suffixes in (COMPRESSION_SUFFIXES, FASTA_SUFFIXES):
        for suffix in suffixes:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                break
    return re.sub(r"[^\w.+-]", "_", name)


def unique_stems(paths: list[Path]) -> list[str]:
    """One stem per input; repeated stems get ``_2``, ``_3`` ... in input order."""
    stems: list[str] = []
    seen: dict[str, int] = {}
    for path in paths:
        stem = output_stem(path)
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return stems


def check_dna(genome: Genome) -> None:
    """InputError when the input is not DNA (at least NOT_DNA_FRACTION of its first letters are outside the IUPAC
    nucleotide codes: a protein FASTA?); a note with the share when a few such letters are read as N."""
    found, seen = genome.non_dna_letters(ALPHABET_SAMPLE)
    bad = sum(found.values())
    if not bad or not seen:
        return
    letters = "".join(sorted(found, key=lambda c: -found[c])[:8])
    share = f"{bad / seen:.2%} of the first {seen:,} letters"
    if bad / seen >= NOT_DNA_FRACTION:
        raise InputError(f"{genome.path}: not DNA: {share} are not IUPAC nucleotide codes ({letters}); a protein "
                         "FASTA? genoattn predicts from DNA")
    log.warning("note: %s: %s are not IUPAC nucleotide codes (%s); they are read as N", genome.path, share, letters)


def open_inputs(paths: list[str | Path], cache_dir: str | None = None) -> list[tuple[Path, Genome]]:
    """Open (and index) every input before any work; InputError for a bad file, one without sequence or one that
    is not DNA."""
    if not paths:
        raise InputError("no FASTA input given (expected at least one --fasta file)")
    opened = []
    for raw in paths:
        genome = Genome(raw, uppercase=False, cache_dir=cache_dir)
        if genome.total_length == 0:
            raise InputError(f"{genome.path}: no sequence ({len(genome)} records, all empty)")
        check_dna(genome)
        opened.append((genome.path, genome))
    return opened
