"""Annotation readers: BED, GFF3, GTF, GenBank; coordinate conversion; dispatch; the embedded E. coli files."""

import gzip
import warnings
from pathlib import Path

import pytest

from genoattn.data.annotations import (
    Interval,
    MissingContigWarning,
    annotation_suffix,
    check_intervals,
    read_annotation,
    read_bed,
    read_genbank,
    read_gff,
)
from genoattn.data.genome import Genome

REPO = Path(__file__).resolve().parents[2]
ECOLI = REPO / "data" / "ecoli_prokka"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENOATTN_CACHE", str(tmp_path / "cache"))


BED = """track name=test
browser position chr1:1-100
# a comment
chr1\t0\t10
chr1\t5\t20\tgeneA
chr2\t3\t7\tgeneB\t12.5
chr2\t8\t9\t.\t.\t-
chr1\t10\t10\tempty\t0\t+\t10\t10\t255,0,0
"""


def test_bed_columns_and_coordinates_kept(tmp_path):
    path = tmp_path / "a.bed"
    path.write_text(BED)
    got = read_bed(path)
    assert got == [
        Interval("chr1", 0, 10),
        Interval("chr1", 5, 20, name="geneA"),
        Interval("chr2", 3, 7, name="geneB", score=12.5),
        Interval("chr2", 8, 9, strand="-"),
        Interval("chr1", 10, 10, strand="+", name="empty", score=0.0),
    ]
    assert [iv.line for iv in got] == [4, 5, 6, 7, 8]
    assert got[1].length == 15 and bool(Interval("c", 3, 3))


def test_bed_gzip_and_space_separated(tmp_path):
    path = tmp_path / "a.bed.gz"
    path.write_bytes(gzip.compress(b"chr1 4 8 x 1 -\n"))
    assert read_bed(path) == [Interval("chr1", 4, 8, "-", "x", 1.0)]
    assert read_annotation(path) == read_bed(path)


GFF3 = """##gff-version 3
##sequence-region ctg1 1 1000
ctg1\tProdigal\tgene\t1\t300\t.\t+\t.\tID=gene1
ctg1\tProdigal\tCDS\t1\t300\t0.9\t+\t0\tID=cds1;Name=abc%3B1;product=hypothetical
ctg1\tProdigal\tCDS\t401\t700\t.\t-\t2\tName=def;locus_tag=LT2
ctg2\tAragorn\ttRNA\t10\t85\t.\t?\t.\tlocus_tag=T1
##FASTA
>ctg1
ACGT
"""


def test_gff3_is_converted_to_zero_based_half_open(tmp_path):
    path = tmp_path / "a.gff3"
    path.write_text(GFF3)
    got = read_gff(path)
    assert [(iv.contig, iv.start, iv.end, iv.strand, iv.feature) for iv in got] == [
        ("ctg1", 0, 300, "+", "gene"),
        ("ctg1", 0, 300, "+", "CDS"),
        ("ctg1", 400, 700, "-", "CDS"),
        ("ctg2", 9, 85, ".", "tRNA"),
    ]
    cds = read_gff(path, feature_types=["CDS"])
    assert [(iv.name, iv.score, iv.phase, iv.line) for iv in cds] == [("cds1", 0.9, 0, 4), ("def", None, 2, 5)]
    assert read_gff(path, feature_types="tRNA")[0].name == "T1"  # a single string works too
    assert len(read_gff(path, ["CDS", "tRNA"])) == 3


def test_gff_warns_when_no_feature_of_the_requested_type(tmp_path):
    path = tmp_path / "a.gff3"
    path.write_text(GFF3)
    with pytest.warns(UserWarning, match="no features of type.*exon.*CDS"):
        assert read_gff(path, ["exon"]) == []


GTF = """chr1\tsrc\texon\t11\t20\t.\t+\t.\tgene_id "g1"; transcript_id "t1"; exon_number "1";
chr1\tsrc\tCDS\t14\t20\t.\t+\t0\tgene_id "g1"; transcript_id "t1";
chr1\tsrc\tgene\t11\t50\t.\t+\t.\tgene_id "g1"; gene_name "ABC";
"""


@pytest.mark.parametrize("name", ["a.gtf", "a.gff", "a.gtf.gz"])
def test_gtf_is_detected_and_named_by_transcript(tmp_path, name):
    path = tmp_path / name
    data = GTF.encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    got = read_annotation(path)
    assert [(iv.start, iv.end, iv.name, iv.feature, iv.phase) for iv in got] == [
        (10, 20, "t1", "exon", None),
        (13, 20, "t1", "CDS", 0),
        (10, 50, "g1", "gene", None),
    ]


def _write_genbank(path: Path) -> str:
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqFeature import CompoundLocation, SeqFeature, SimpleLocation
    from Bio.SeqRecord import SeqRecord

    seq = "ATGAAACCCTAGGGGTTTAAACCCGGGATGTTTTAA"  # 36 bp
    rec = SeqRecord(Seq(seq), id="NC_TEST.1", name="NC_TEST", description="tiny test record")
    rec.annotations["molecule_type"] = "DNA"
    rec.features = [
        SeqFeature(SimpleLocation(0, 36, strand=1), type="source"),
        SeqFeature(SimpleLocation(0, 12, strand=1), type="CDS", qualifiers={"locus_tag": ["T_001"]}),
        # spliced CDS on the minus strand, parts in biological order (5' part first = higher coordinates)
        SeqFeature(CompoundLocation([SimpleLocation(30, 36, strand=-1), SimpleLocation(20, 24, strand=-1)]),
                   type="CDS", qualifiers={"gene": ["spl"], "codon_start": ["2"]}),
        SeqFeature(SimpleLocation(14, 18, strand=None), type="misc_feature", qualifiers={"label": ["m"]}),
    ]
    SeqIO.write([rec], path, "genbank")
    return seq


def test_genbank_sequences_and_features(tmp_path):
    path = tmp_path / "t.gbk"
    seq = _write_genbank(path)
    sequences, features = read_genbank(path)
    assert sequences == {"NC_TEST.1": seq}
    assert [(iv.start, iv.end, iv.strand, iv.name, iv.feature, iv.phase) for iv in features] == [
        (0, 36, "+", "", "source", None),
        (0, 12, "+", "T_001", "CDS", 0),
        (30, 36, "-", "spl", "CDS", 1),  # codon_start=2 -> phase 1
        (20, 24, "-", "spl", "CDS", 1),  # starts at spliced base 6; codons start at 1, 4, 7 -> phase 1
        (14, 18, "+", "m", "misc_feature", None),  # GenBank cannot say "unstranded": read back as +
    ]
    _, cds = read_genbank(path, feature_types=["CDS"])
    assert len(cds) == 3 and read_annotation(path, ["CDS"]) == cds
    # Genome and read_genbank agree on contig names, so check_intervals accepts the features
    genome = Genome(path)
    assert check_intervals(features, genome.contigs, str(path)) == features
    assert genome.fetch("NC_TEST.1", 0, 12) == "ATGAAACCCTAG"


def test_genbank_gzip(tmp_path):
    plain = tmp_path / "t.gb"
    seq = _write_genbank(plain)
    gz = tmp_path / "t.gb.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_genbank(gz)[0] == {"NC_TEST.1": seq}


def test_annotation_suffix():
    assert annotation_suffix(Path("x/a.b.GFF3.gz")) == ".gff3"
    assert annotation_suffix(Path("a.bed")) == ".bed"
    assert annotation_suffix(Path("noext")) == ""


def test_check_intervals_keeps_intervals_inside_contigs():
    ivs = [Interval("a", 0, 10, line=1), Interval("a", 90, 100, line=2), Interval("b", 0, 5, line=3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_intervals(ivs, {"a": 100, "b": 5}, "x.bed") == ivs


def test_check_intervals_skips_missing_contigs_with_one_warning():
    ivs = [Interval("a", 0, 10), Interval("plasmid", 0, 5), Interval("plasmid", 6, 8), Interval("z", 1, 2)]
    with pytest.warns(MissingContigWarning) as record:
        kept = check_intervals(ivs, {"a": 100}, "ann.gff3")
    assert kept == [Interval("a", 0, 10)]
    assert len(record) == 1
    message = str(record[0].message)
    assert "ann.gff3" in message and "plasmid, z" in message and "skipped 3 intervals on 2 contigs" in message


def test_interval_validates_itself():
    from genoattn.errors import InputError

    with pytest.raises(InputError, match="strand"):
        Interval("a", 0, 1, strand="x")
    with pytest.raises(InputError, match="start <= end"):
        Interval("a", 5, 1)


# ---------------------------------------------------------------------------------- embedded data


@pytest.fixture(scope="module")
def ecoli_cds():
    return read_gff(ECOLI / "annotation.gff3.gz", feature_types=["CDS"])


@pytest.fixture(scope="module")
def ecoli_genome(tmp_path_factory):
    return Genome(ECOLI / "genome.fa.gz", cache_dir=tmp_path_factory.mktemp("ecoli_cache"))


def test_embedded_annotation_counts(ecoli_cds):
    assert len(ecoli_cds) == 4611
    first = ecoli_cds[0]  # GFF line: BAC_00001 Prodigal:2.6 CDS 326 1240 . - 0 ID=BAC_00001;Name=dmlR_1
    assert (first.contig, first.start, first.end, first.strand, first.name, first.phase) == (
        "BAC_00001", 325, 1240, "-", "BAC_00001", 0)
    everything = read_annotation(ECOLI / "annotation.gff3.gz")
    counts = {t: sum(iv.feature == t for iv in everything) for t in ("CDS", "tRNA", "rRNA", "tmRNA")}
    assert counts == {"CDS": 4611, "tRNA": 77, "rRNA": 12, "tmRNA": 1}


def test_embedded_cds_are_open_reading_frames(ecoli_cds, ecoli_genome):
    """Coordinates are converted right if the CDS sequences read as ORFs on their strand."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = check_intervals(ecoli_cds, ecoli_genome.contigs, "annotation.gff3.gz")
    assert len(kept) == 4611
    stops = {"TAA", "TAG", "TGA"}
    complete = [iv for iv in kept if iv.phase == 0 and iv.length % 3 == 0]
    assert len(complete) > 4500
    ends_with_stop = sum(ecoli_genome.fetch(iv.contig, iv.start, iv.end, iv.strand)[-3:] in stops
                         for iv in complete[:500])
    assert ends_with_stop >= 495  # contig-edge partial genes may lack one
    seq = ecoli_genome.fetch(complete[1].contig, complete[1].start, complete[1].end, complete[1].strand)
    assert not {seq[i:i + 3] for i in range(0, len(seq) - 3, 3)} & stops  # no in-frame stop inside
