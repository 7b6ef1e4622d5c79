"""Malformed FASTA and annotation files: each gives a one-line InputError naming the file, the line or
contig, and the problem (or a documented warning where skipping is right); input files are never modified."""

import gzip
import random
from pathlib import Path

import pytest
from Bio import bgzf

from genoattn.data.annotations import (
    Interval,
    MissingContigWarning,
    check_intervals,
    read_annotation,
    read_bed,
    read_genbank,
    read_gff,
)
from genoattn.data.genome import Genome
from genoattn.errors import InputError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENOATTN_CACHE", str(tmp_path / "cache"))


def expect_error(call, path: Path, *fragments: str) -> str:
    """Run ``call`` on ``path``; check a one-line InputError naming the file and each fragment; file untouched."""
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    siblings = sorted(p.name for p in path.parent.iterdir())
    with pytest.raises(InputError) as info:
        call(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in path.parent.iterdir()) == siblings  # no index left beside a bad file
    return message


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    """Write an input file into its own folder (the cache lives beside it, in tmp_path/cache)."""
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# ------------------------------------------------------------------------------------------- FASTA


def test_empty_fasta(tmp_path):
    expect_error(Genome, write(tmp_path, "e.fa", b""), "file is empty")


def test_empty_gzip_fasta(tmp_path):
    expect_error(Genome, write(tmp_path, "e.fa.gz", gzip.compress(b"")), "no FASTA records")


def test_only_blank_lines(tmp_path):
    expect_error(Genome, write(tmp_path, "b.fa", "\n\n\n"), "no FASTA records", "3 blank lines")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        Genome(tmp_path / "nope.fa")


def test_no_header(tmp_path):
    expect_error(Genome, write(tmp_path, "n.fa", "ACGTACGT\nACGT\n"), ":1:", "no '>' header")


def test_header_without_name(tmp_path):
    expect_error(Genome, write(tmp_path, "h.fa", ">\nACGT\n"), ":1:", "no contig name")


def test_duplicate_contig_names(tmp_path):
    text = ">chr1\nACGT\n>chr2 desc\nAC\n>chr1 again\nGG\n"
    expect_error(Genome, write(tmp_path, "d.fa", text), ":5:", "duplicate contig name 'chr1'", "line 1")


def test_short_line_in_the_middle(tmp_path):
    text = ">a\nACGTACGT\nACGTACGT\n>b\nACGTA\nACG\nACGTA\nAC\n"
    expect_error(Genome, write(tmp_path, "w.fa", text), ":6:", "contig 'b'", "unequal width")


def test_long_line_after_short_width(tmp_path):
    text = ">a\nACGT\nACGTACGT\n"
    expect_error(Genome, write(tmp_path, "w.fa", text), ":3:", "contig 'a'", "8 bases", "unequal width")


def test_blank_line_inside_sequence(tmp_path):
    expect_error(Genome, write(tmp_path, "b.fa", ">a\nACGT\n\nACGT\n"), ":3:", "contig 'a'", "blank line")


def test_mixed_line_endings(tmp_path):
    expect_error(Genome, write(tmp_path, "m.fa", ">a\r\nACGT\r\nACGT\nAC\n"), ":3:", "contig 'a'", "mixed LF/CRLF")


def test_invalid_character(tmp_path):
    expect_error(Genome, write(tmp_path, "i.fa", ">a\nACGT\nAC1T\n"), ":3:", "contig 'a'", "invalid character '1'")


def test_old_mac_line_endings(tmp_path):
    expect_error(Genome, write(tmp_path, "r.fa", ">a\rACGT\rACGT\r"), ":1:", "carriage return")
    expect_error(Genome, write(tmp_path, "r2.fa", ">a\nAC\rGT\n"), ":2:", "carriage return")


def test_binary_garbage(tmp_path):
    garbage = random.Random(0).randbytes(4000).replace(b"\x1f\x8b", b"xx")
    expect_error(Genome, write(tmp_path, "g.fa", garbage), "binary content")


def test_binary_garbage_after_a_header(tmp_path):
    data = b">a\nACGT\n" + bytes(range(256)) + b"\n"
    expect_error(Genome, write(tmp_path, "g.fa", data), ":3:", "contig 'a'", "binary content")


def test_truncated_gzip(tmp_path):
    data = gzip.compress((">a\n" + "ACGT" * 5000 + "\n").encode())
    expect_error(Genome, write(tmp_path, "t.fa.gz", data[: len(data) // 2]), "truncated gzip")


def test_corrupt_gzip(tmp_path):
    data = bytearray(gzip.compress((">a\n" + "ACGT" * 5000 + "\n").encode()))
    data[40:60] = b"\x00" * 20
    expect_error(Genome, write(tmp_path, "c.fa.gz", bytes(data)), "gzip")


def test_truncated_bgzip(tmp_path):
    path = tmp_path / "full.fa.gz"
    with bgzf.BgzfWriter(str(path), "wb") as fh:
        fh.write((">a\n" + "ACGT" * 30000 + "\n").encode())
    data = path.read_bytes()
    expect_error(Genome, write(tmp_path, "t.fa.gz", data[: len(data) // 2]), "truncated gzip")


def test_bad_fasta_inside_gzip_names_the_line(tmp_path):
    data = gzip.compress(b">a\nACGT\nAC\nACGT\n")
    expect_error(Genome, write(tmp_path, "w.fa.gz", data), ":3:", "contig 'a'", "not its last line")


def test_garbage_genbank(tmp_path):
    expect_error(Genome, write(tmp_path, "x.gbk", "hello\nworld\n"), "no GenBank records")
    expect_error(read_genbank, write(tmp_path, "y.gb", "hello\n"), "no GenBank records")


def test_genbank_without_sequence(tmp_path):
    text = ("LOCUS       X1                        10 bp    DNA              UNK 01-JAN-1980\n"
            "DEFINITION  x.\nACCESSION   X1\nVERSION     X1\nCONTIG      join(A1.1:1..10)\n//\n")
    expect_error(read_genbank, write(tmp_path, "x.gb", text), "'X1'", "no sequence")
    expect_error(Genome, write(tmp_path, "x.gb", text), "'X1'", "no sequence")
    truncated = text.replace("CONTIG      join(A1.1:1..10)", "FEATURES             Location/Qualifiers")
    expect_error(read_genbank, write(tmp_path, "t.gb", truncated), "malformed GenBank file")


@pytest.fixture()
def small_genome(tmp_path):
    path = write(tmp_path, "s.fa", ">chr1\nACGTACGTAC\nGT\n>chr2\nAAAA\n")
    return Genome(path)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("chr1", 0, 13), ("contig 'chr1' is 12 bp", "[0, 13)")),
        (("chr1", -1, 5), ("contig 'chr1'", "[-1, 5)")),
        (("chr1", 6, 5), ("start <= end",)),
        (("chrX", 0, 1), ("unknown contig 'chrX'", "chr1, chr2")),
        (("chr1", 0, 5, "x"), ("strand",)),
        (("chr1", 0.5, 5), ("integers",)),
    ],
)
def test_fetch_outside_a_contig(small_genome, args, fragments):
    with pytest.raises(InputError) as info:
        small_genome.fetch(*args)
    message = str(info.value)
    assert "\n" not in message and str(small_genome.path) in message
    for fragment in fragments:
        assert fragment in message


def test_window_longer_than_every_contig(small_genome):
    with pytest.raises(InputError, match=r"contig 'chr2' is 4 bp; cannot fetch \[0, 100\)"):
        small_genome.fetch("chr2", 0, 100)
    with pytest.raises(InputError, match="unknown contig"):
        small_genome.length("nope")


# ------------------------------------------------------------------------------------- annotations


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("chr1\t10\n", (":1:", "at least 3 BED columns", "found 2")),
        ("# header\nchr1\t1\t5\nchr1\tten\t20\n", (":3:", "start coordinate 'ten' is not an integer")),
        ("chr1\t1\t2.5\n", (":1:", "end coordinate '2.5'")),
        ("chr1\t1\t5\nchr1\t20\t10\tx\n", (":2:", "start 20 > end 10", "'chr1'")),
        ("chr1\t-3\t10\n", (":1:", "negative start")),
        ("chr1\t1\t5\tn\t0\tplus\n", (":1:", "strand 'plus'")),
        ("chr1\t1\t5\tn\thigh\n", (":1:", "score 'high'")),
        ("chrom\tstart\tend\n", (":1:", "not an integer")),
    ],
)
def test_bad_bed(tmp_path, text, fragments):
    expect_error(read_bed, write(tmp_path, "a.bed", text), *fragments)


GOOD_GFF = "ctg1\tsrc\tCDS\t1\t30\t.\t+\t0\tID=a\n"


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("##gff-version 3\nctg1\tsrc\tCDS\t1\t30\n", (":2:", "expected 9 tab-separated GFF columns, found 5")),
        ("ctg1 src CDS 1 30 . + 0 ID=a\n", (":1:", "separated by tabs")),
        (GOOD_GFF + "ctg1\tsrc\tCDS\t40\t35\t.\t+\t0\tID=b\n", (":2:", "start 40 > end 35", "'ctg1'")),
        ("ctg1\tsrc\tCDS\tx1\t30\t.\t+\t0\tID=a\n", (":1:", "start coordinate 'x1'")),
        ("ctg1\tsrc\tCDS\t0\t30\t.\t+\t0\tID=a\n", (":1:", "1-based")),
        ("ctg1\tsrc\tCDS\t1\t30\t.\t+\t5\tID=a\n", (":1:", "phase '5'")),
        ("ctg1\tsrc\tCDS\t1\t30\t.\tW\t0\tID=a\n", (":1:", "strand 'W'")),
    ],
)
def test_bad_gff(tmp_path, text, fragments):
    expect_error(read_gff, write(tmp_path, "a.gff3", text), *fragments)


def test_binary_annotation(tmp_path):
    garbage = random.Random(1).randbytes(3000).replace(b"\x1f\x8b", b"xx")
    expect_error(read_gff, write(tmp_path, "a.gff", garbage), "binary")
    expect_error(read_bed, write(tmp_path, "a.bed", b"chr1\t1\t5\n\x00\x01\x02\n"), ":2:", "binary")


def test_truncated_gzip_annotation(tmp_path):
    data = gzip.compress(("".join(f"ctg1\tsrc\tCDS\t{i + 1}\t{i + 30}\t.\t+\t0\tID=g{i}\n" for i in range(3000)))
                         .encode())
    expect_error(read_gff, write(tmp_path, "a.gff3.gz", data[: len(data) // 2]), "truncated gzip")


def test_empty_annotation_and_unknown_extension(tmp_path):
    expect_error(read_bed, write(tmp_path, "e.bed", b""), "file is empty")
    expect_error(read_annotation, write(tmp_path, "a.txt", "chr1\t1\t2\n"), "unknown annotation format '.txt'")


def test_annotation_contig_missing_from_fasta_is_skipped_with_a_warning(tmp_path, small_genome):
    path = write(tmp_path, "a.bed", "chr1\t0\t5\nplasmid1\t0\t5\nchr2\t1\t4\nplasmid1\t6\t9\n")
    with pytest.warns(MissingContigWarning, match=r"a\.bed: skipped 2 intervals on 1 contigs not in the FASTA: "
                                                  r"plasmid1"):
        kept = check_intervals(read_bed(path), small_genome.contigs, str(path))
    assert [(iv.contig, iv.start) for iv in kept] == [("chr1", 0), ("chr2", 1)]


def test_annotation_past_the_contig_end(tmp_path, small_genome):
    path = write(tmp_path, "a.gff3", GOOD_GFF.replace("ctg1", "chr2").replace("\t30\t", "\t4\t")
                 + "chr1\tsrc\tCDS\t3\t13\t.\t+\t0\tID=long\n")
    message = expect_error(lambda p: check_intervals(read_gff(p), small_genome.contigs, str(p)), path,
                           ":2:", "CDS 'long'", "'chr1'", "[2, 13)", "12 bp")
    assert "runs past the contig's end" in message


def test_interval_without_line_number_past_the_end():
    with pytest.raises(InputError, match=r"^src\.bed: interval on contig 'a' at \[0, 11\)"):
        check_intervals([Interval("a", 0, 11)], {"a": 10}, "src.bed")
