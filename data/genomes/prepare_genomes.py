"""Rebuild a folder of data/genomes/ from a GenBank file that a package ships (maintainers only; see data/README.md).

    python data/genomes/prepare_genomes.py NAME PATH/TO/FILE.gb [--gff3]

Writes ``data/genomes/NAME/genome.fa.gz`` (the records' sequences, named as genoattn names GenBank records:
VERSION id, else LOCUS name) and the annotation: the GenBank file itself, gzip-compressed
(``annotation.gb.gz``), or with ``--gff3`` its CDS/tRNA/rRNA features as GFF3 (``annotation.gff3.gz``;
for files whose protein translations would make the copy large). Both are written with gzip mtime 0, so a
rebuild gives identical bytes. Prints the figures that data/README.md and genomes.yaml record.
"""

from __future__ import annotations

import argparse
import gzip
import io
from pathlib import Path

from genoattn.data.annotations import read_genbank

HERE = Path(__file__).resolve().parent
GFF_TYPES = ("CDS", "tRNA", "rRNA")
LINE = 60


def write_gz(path: Path, text: str) -> None:
    """gzip ``text`` into ``path`` with a fixed header (mtime 0, no file name)."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as fh:
        fh.write(text.encode("ascii"))


def fasta_text(sequences: dict[str, str]) -> str:
    out = io.StringIO()
    for name, seq in sequences.items():
        out.write(f">{name}\n")
        for i in range(0, len(seq), LINE):
            out.write(seq[i : i + LINE] + "\n")
    return out.getvalue()


def gff3_text(path: Path) -> str:
    """GFF3 lines (1-based closed) of the CDS/tRNA/rRNA features; a joined feature gives one line per part."""
    _, intervals = read_genbank(path, GFF_TYPES)
    lines = ["##gff-version 3"]
    counts: dict[str, int] = {}
    for iv in intervals:
        counts[iv.name] = counts.get(iv.name, 0) + 1
    seen: dict[str, int] = {}
    for iv in intervals:
        phase = "." if iv.phase is None else str(iv.phase)
        name = iv.name or f"{iv.feature}_{iv.contig}_{iv.start}"
        seen[name] = seen.get(name, 0) + 1
        ident = name if counts.get(iv.name, 0) <= 1 else f"{name}_{seen[name]}"
        lines.append(f"{iv.contig}\tgenbank\t{iv.feature}\t{iv.start + 1}\t{iv.end}\t.\t{iv.strand}\t{phase}\t"
                     f"ID={ident};Name={name}")
    return "\n".join(lines) + "\n"


def count_cds(path: Path) -> int:
    """CDS features of the GenBank file (a joined CDS counts once)."""
    from Bio import SeqIO

    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="ascii") as fh:
        return sum(f.type == "CDS" for record in SeqIO.parse(fh, "genbank") for f in record.features)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="folder name under data/genomes/")
    parser.add_argument("genbank", type=Path, help="GenBank file (plain or gzip) as the package ships it")
    parser.add_argument("--gff3", action="store_true", help="write the annotation as GFF3 instead of GenBank")
    args = parser.parse_args(argv)
    out = HERE / args.name
    out.mkdir(exist_ok=True)
    sequences, cds = read_genbank(args.genbank, ["CDS"])
    write_gz(out / "genome.fa.gz", fasta_text(sequences))
    if args.gff3:
        write_gz(out / "annotation.gff3.gz", gff3_text(args.genbank))
    else:
        opener = gzip.open if args.genbank.read_bytes()[:2] == b"\x1f\x8b" else open
        with opener(args.genbank, "rt", encoding="ascii") as fh:
            write_gz(out / "annotation.gb.gz", fh.read())
    length = sum(len(s) for s in sequences.values())
    gc = sum(s.count("G") + s.count("C") for s in sequences.values()) / length
    covered = {c: bytearray(len(s)) for c, s in sequences.items()}
    for iv in cds:
        covered[iv.contig][iv.start : iv.end] = b"\x01" * iv.length
    coding = sum(sum(b) for b in covered.values()) / length
    print(f"{args.name}: {len(sequences)} records, {length:,} bp, GC {100 * gc:.1f}%, "
          f"{count_cds(args.genbank)} CDS ({len(cds)} parts), {100 * coding:.1f}% coding")


if __name__ == "__main__":
    main()
