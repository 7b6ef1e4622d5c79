"""Genome: FASTA / multi-FASTA / bgzip / gzip / GenBank access, indexes, caching, pickling."""

import gzip
import os
import pickle
import random
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from Bio import bgzf

from genoattn.data import genome as genome_mod
from genoattn.data.genome import Genome, default_cache_dir

REPO = Path(__file__).resolve().parents[2]
ECOLI_FASTA = REPO / "data" / "ecoli_prokka" / "genome.fa.gz"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Every test gets its own cache folder (never ~/.cache)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GENOATTN_CACHE", str(cache))
    return cache


def fasta_text(records: dict[str, str], width: int = 7, newline: str = "\n") -> str:
    lines = []
    for name, seq in records.items():
        lines.append(f">{name} some description")
        lines.extend(seq[i:i + width] for i in range(0, len(seq), width))
    return newline.join(lines) + newline


def random_dna(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(n))


RECORDS = {"chr1": random_dna(53, 1), "chr2": random_dna(7, 2), "plasmid": random_dna(120, 3)}


def write_fasta(path: Path, records=RECORDS, **kw) -> Path:
    path.write_bytes(fasta_text(records, **kw).encode())
    return path


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def check_all_windows(g: Genome, records: dict[str, str], seed: int = 0, n: int = 200) -> None:
    rng = random.Random(seed)
    for _ in range(n):
        name = rng.choice(list(records))
        seq = records[name]
        start = rng.randrange(len(seq) + 1)
        end = rng.randrange(start, len(seq) + 1)
        assert g.fetch(name, start, end) == seq[start:end]


def test_multi_fasta_contigs_and_fetch_across_line_breaks(tmp_path):
    path = write_fasta(tmp_path / "g.fa")
    before = snapshot(path)
    g = Genome(path)
    assert list(g.contigs.items()) == [(k, len(v)) for k, v in RECORDS.items()]  # file order
    assert len(g) == 3 and "chr2" in g and "chrX" not in g
    assert g.total_length == sum(map(len, RECORDS.values()))
    assert g.path == path
    check_all_windows(g, RECORDS)
    assert g.fetch("chr1", 0, 53) == RECORDS["chr1"]
    assert g.fetch("chr1", 5, 5) == ""
    assert g.fetch("plasmid", np.int64(3), np.int64(10)) == RECORDS["plasmid"][3:10]
    assert g.index_path == Path(f"{path}.fai")  # writable folder: index beside the FASTA
    assert snapshot(path) == before


def test_records_may_use_different_line_widths(tmp_path):
    path = tmp_path / "g.fa"
    path.write_text(fasta_text({"a": RECORDS["chr1"]}, width=10) + fasta_text({"b": RECORDS["plasmid"]}, width=60))
    check_all_windows(Genome(path), {"a": RECORDS["chr1"], "b": RECORDS["plasmid"]})


def test_reverse_complement(tmp_path):
    path = tmp_path / "g.fa"
    path.write_text(">s\nAACGTTTGCN\n")
    g = Genome(path)
    assert g.fetch("s", 0, 10, strand="-") == "NGCAAACGTT"
    assert g.fetch("s", 1, 4, "-") == "CGT"  # reverse complement of ACG
    assert g.fetch("s", 1, 4, ".") == g.fetch("s", 1, 4, "+") == "ACG"


def test_iupac_codes_become_n_and_soft_masking_is_optional(tmp_path):
    path = tmp_path / "g.fa"
    path.write_text(">s\nACGTRYKMSWBDHVN-*.Uacgtnryku\n")  # 28 bases
    up = Genome(path)
    assert up.fetch("s", 0, 28) == "ACGT" + "N" * 14 + "T" + "ACGTNNNNT"
    soft = Genome(path, uppercase=False)
    assert soft.fetch("s", 0, 28) == "ACGT" + "N" * 14 + "T" + "acgtnnnnt"
    assert soft.fetch("s", 19, 23, "-") == "acgt"  # complement keeps the case
    assert soft.fetch("s", 17, 20, "-") == "tAN"


def test_windows_line_endings_are_accepted(tmp_path):
    path = write_fasta(tmp_path / "crlf.fa", newline="\r\n")
    assert b"\r\n" in path.read_bytes()
    g = Genome(path)
    assert g.contigs == {k: len(v) for k, v in RECORDS.items()}
    check_all_windows(g, RECORDS)


def test_missing_final_newline_and_trailing_blank_lines(tmp_path):
    path = tmp_path / "g.fa"
    path.write_text(">a\nACGTA\nCG\n\n>b\nTTTTT\nGG")
    g = Genome(path)
    assert g.contigs == {"a": 7, "b": 7}
    assert g.fetch("a", 0, 7) == "ACGTACG" and g.fetch("b", 3, 7) == "TTGG"


def test_bgzip_fasta_is_read_in_place(tmp_path, _cache):
    path = tmp_path / "g.fa.gz"
    with bgzf.BgzfWriter(str(path), "wb") as fh:
        fh.write(fasta_text(RECORDS).encode())
    before = snapshot(path)
    g = Genome(path)
    assert g.fasta_path == path  # no decompressed copy
    assert g.gzi_path == Path(f"{path}.gzi") and g.gzi_path.exists()
    check_all_windows(g, RECORDS)
    assert not _cache.exists() or not any(_cache.rglob("*.fa"))
    assert snapshot(path) == before
    check_all_windows(Genome(path), RECORDS, seed=1)  # reopening uses the existing .fai/.gzi


def test_read_only_bgzip_gets_its_indexes_in_the_cache(tmp_path, _cache):
    path = tmp_path / "g.fa.bgz"
    with bgzf.BgzfWriter(str(path), "wb") as fh:
        fh.write(fasta_text(RECORDS, newline="\r\n").encode())
    path.chmod(0o444)
    g = Genome(path)
    assert g.fasta_path == path
    assert g.index_path.is_relative_to(_cache) and g.gzi_path.is_relative_to(_cache)
    check_all_windows(g, RECORDS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "g.fa.bgz"]


def test_header_only_record_is_an_empty_contig(tmp_path):
    path = tmp_path / "g.fa"
    path.write_text(">empty\n>a\nACGT\n")
    g = Genome(path)
    assert g.contigs == {"empty": 0, "a": 4}
    assert g.fetch("empty", 0, 0) == "" and g.fetch("a", 0, 4) == "ACGT"


def test_plain_gzip_is_decompressed_once_into_the_cache(tmp_path, _cache, monkeypatch):
    path = tmp_path / "g.fa.gz"
    path.write_bytes(gzip.compress(fasta_text(RECORDS).encode()))
    before = snapshot(path)
    g = Genome(path)
    assert g.fasta_path.is_relative_to(_cache) and g.index_path.is_relative_to(_cache)
    check_all_windows(g, RECORDS)
    copy_mtime = g.fasta_path.stat().st_mtime_ns

    calls = []
    monkeypatch.setattr(genome_mod, "scan_fasta", lambda *a, **k: calls.append(a))
    g2 = Genome(path)
    assert calls == [] and g2.fasta_path == g.fasta_path
    assert g2.fasta_path.stat().st_mtime_ns == copy_mtime
    assert snapshot(path) == before
    assert not Path(f"{path}.fai").exists()


def test_changed_gzip_gets_a_new_cache_entry(tmp_path):
    path = tmp_path / "g.fa.gz"
    path.write_bytes(gzip.compress(b">a\nACGT\n"))
    assert Genome(path).fetch("a", 0, 4) == "ACGT"
    path.write_bytes(gzip.compress(b">a\nGGGGCC\n"))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert Genome(path).fetch("a", 0, 6) == "GGGGCC"


def test_genbank_input(tmp_path):
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    seqs = {"recA": RECORDS["chr1"], "recB": RECORDS["plasmid"]}
    recs = []
    for name, seq in seqs.items():
        rec = SeqRecord(Seq(seq), id=name, name=name, description="test")
        rec.annotations["molecule_type"] = "DNA"
        recs.append(rec)
    path = tmp_path / "g.gbk"
    SeqIO.write(recs, path, "genbank")
    g = Genome(path)
    assert g.contigs == {"recA": 53, "recB": 120}
    check_all_windows(g, seqs)
    assert not Path(f"{path}.fai").exists()
    # gzip GenBank without a telling extension is recognised from its LOCUS line
    gz = tmp_path / "g.dat"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert Genome(gz).fetch("recA", 0, 53) == seqs["recA"]


def _make_read_only(*paths: Path) -> None:
    for p in paths:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def test_read_only_folder_puts_index_in_cache(tmp_path, _cache):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = write_fasta(folder / "g.fa")
    before = snapshot(path)
    _make_read_only(folder)
    try:
        g = Genome(path)
        assert g.index_path.is_relative_to(_cache)
        check_all_windows(g, RECORDS)
        assert sorted(p.name for p in folder.iterdir()) == ["g.fa"]
        assert Genome(path).index_path == g.index_path  # reused
    finally:
        folder.chmod(0o755)
    assert snapshot(path) == before


def test_read_only_fasta_puts_index_in_cache(tmp_path, _cache):
    path = write_fasta(tmp_path / "g.fa")
    _make_read_only(path)
    g = Genome(path)
    assert g.index_path.is_relative_to(_cache)
    assert not Path(f"{path}.fai").exists()
    check_all_windows(g, RECORDS)


def test_fresh_index_is_reused_without_rescanning(tmp_path, monkeypatch):
    path = write_fasta(tmp_path / "g.fa")
    Genome(path)
    calls = []
    monkeypatch.setattr(genome_mod, "scan_fasta", lambda *a, **k: calls.append(a))
    check_all_windows(Genome(path), RECORDS)
    assert calls == []


def test_stale_index_is_rebuilt_when_fasta_is_newer(tmp_path):
    path = write_fasta(tmp_path / "g.fa")
    fai = Path(f"{path}.fai")
    Genome(path)
    new = {"chr1": random_dna(90, 7), "other": random_dna(12, 8)}
    write_fasta(path, new)
    os.utime(path, ns=(fai.stat().st_atime_ns, fai.stat().st_mtime_ns + 10**9))
    g = Genome(path)
    assert g.contigs == {"chr1": 90, "other": 12}
    check_all_windows(g, new)


def test_stale_index_is_rebuilt_on_size_mismatch(tmp_path):
    path = write_fasta(tmp_path / "g.fa")
    fai = Path(f"{path}.fai")
    Genome(path)
    new = {"chr1": random_dna(300, 9)}
    write_fasta(path, new)
    old = fai.stat().st_mtime_ns - 10**9  # FASTA looks older than its index: only the size gives it away
    os.utime(path, ns=(old, old))
    g = Genome(path)
    assert g.contigs == {"chr1": 300}
    check_all_windows(g, new)


def test_pickle_drops_handle_and_reopens(tmp_path):
    g = Genome(write_fasta(tmp_path / "g.fa"))
    g.fetch("chr1", 0, 3)
    clone = pickle.loads(pickle.dumps(g))
    assert clone._faidx is None
    check_all_windows(clone, RECORDS)
    assert clone._pid == os.getpid()
    clone._pid = -1  # as if forked into another process: a new handle is opened
    old_handle = clone._faidx
    assert clone.fetch("chr2", 0, 7) == RECORDS["chr2"]
    assert clone._faidx is not old_handle


class _Windows(torch.utils.data.Dataset):
    def __init__(self, genome: Genome):
        self.genome = genome

    def __len__(self) -> int:
        return 40

    def __getitem__(self, i: int) -> str:
        return self.genome.fetch("plasmid", i, i + 50, "-" if i % 2 else "+")


def test_dataloader_workers_each_read_correctly(tmp_path):
    g = Genome(write_fasta(tmp_path / "g.fa"))
    loader = torch.utils.data.DataLoader(_Windows(g), batch_size=8, num_workers=2)
    got = [s for batch in loader for s in batch]
    assert got == [_Windows(g)[i] for i in range(40)]


def test_context_manager_closes_and_fetch_reopens(tmp_path):
    path = write_fasta(tmp_path / "g.fa")
    with Genome(path) as g:
        assert g.fetch("chr2", 1, 4) == RECORDS["chr2"][1:4]
    assert g._faidx is None
    assert g.fetch("chr2", 1, 4) == RECORDS["chr2"][1:4]
    g.close()


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("GENOATTN_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("GENOATTN_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "genoattn"


@pytest.fixture(scope="module")
def ecoli(tmp_path_factory):
    return Genome(ECOLI_FASTA, cache_dir=tmp_path_factory.mktemp("ecoli_cache"))


def test_embedded_ecoli_genome(ecoli):
    assert len(ecoli.contigs) == 226
    assert ecoli.total_length == 4_930_819
    assert list(ecoli.contigs)[0] == "BAC_00001"
    assert ecoli.fetch("BAC_00001", 0, 22) == "AGAATTATTTTCAGGGATACGG"
    assert ecoli.fetch("BAC_00001", 0, 22, "-") == "CCGTATCCCTGAAAATAATTCT"
    assert ecoli.fasta_path.parent.parent.parent == ecoli.cache_dir  # decompressed into the cache
    assert sorted(p.name for p in ECOLI_FASTA.parent.iterdir()) == ["annotation.gff3.gz", "genome.fa.gz"]
    assert set(ecoli.fetch("BAC_00002", 0, 10_000)) <= set("ACGTN")


def test_write_fasta_round_trips(tmp_path):
    from genoattn.data.genome import write_fasta

    seqs = {"one": "ACGT" * 40, "two": "GATTACA"}
    path = write_fasta(seqs, tmp_path / "sub.fa")
    assert path.read_text().splitlines()[1] == "ACGT" * 15  # 60-base lines
    with Genome(path, cache_dir=tmp_path / "cache") as genome:
        assert genome.contigs == {"one": 160, "two": 7}
        assert genome.fetch("one", 0, 160) == seqs["one"] and genome.fetch("two", 0, 7) == "GATTACA"
