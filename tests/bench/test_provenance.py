"""genoattn.bench.provenance: the record, where it lives beside a results file, and that every committed result
under benchmarks/ has one."""

from __future__ import annotations

import json

import torch

from genoattn.bench import data as data_bench
from genoattn.bench.provenance import (
    FIELDS,
    REPO,
    UNKNOWN,
    is_provenance_file,
    provenance,
    provenance_of,
    recovered,
    sidecar,
    write_provenance,
)

BENCHMARKS = REPO / "benchmarks"


def results_files():
    """Every results file under benchmarks/: CSV and JSON files that are not provenance records."""
    return sorted(p for ext in ("csv", "json") for p in BENCHMARKS.glob(f"**/*.{ext}") if not is_provenance_file(p))


def test_every_committed_result_has_provenance():
    assert len(results_files()) > 20
    missing = [str(p.relative_to(REPO)) for p in results_files() if provenance_of(p, BENCHMARKS) is None]
    assert not missing, f"results without a provenance JSON beside them (genoattn.bench.provenance): {missing}"


def test_committed_provenance_files_name_the_fields():
    for path in BENCHMARKS.glob("**/*.json"):
        if is_provenance_file(path):
            record = json.loads(path.read_text())
            assert all(name in record for name in FIELDS), path


def test_record_sidecar_and_lookup(tmp_path):
    record = provenance(torch.device("cpu"), "python -m x --flag")
    assert record["command"] == "python -m x --flag" and record["device"].startswith("cpu")
    assert set(FIELDS) <= set(record) and "numpy" in record["versions"]
    results = tmp_path / "run" / "cpu-x.json"
    results.parent.mkdir()
    results.write_text("{}")
    assert provenance_of(results, tmp_path) is None
    path = write_provenance(results, record)
    assert path == sidecar(results) == tmp_path / "run" / "cpu-x.provenance.json"
    assert json.loads(path.read_text())["results"] == "cpu-x.json"
    assert provenance_of(results, tmp_path) == path
    nested = tmp_path / "run2" / "rows" / "a.json"  # a run folder's provenance.json covers its subfolders
    nested.parent.mkdir(parents=True)
    nested.write_text("{}")
    (tmp_path / "run2" / "provenance.json").write_text(json.dumps(record))
    assert provenance_of(nested, tmp_path) == tmp_path / "run2" / "provenance.json"
    report = tmp_path / "run3" / "report.json"  # a record embedded in a results JSON covers its folder's CSV
    report.parent.mkdir()
    report.write_text(json.dumps({"provenance": record, "rows": []}))
    (tmp_path / "run3" / "results.csv").write_text("a\n1\n")
    assert provenance_of(tmp_path / "run3" / "results.csv", tmp_path) == report


def test_recovered_marks_unknown_fields():
    record = recovered("r.json", "its README", command="python -m y", device="NVIDIA H200")
    assert record["commit"] == record["utc"] == record["versions"] == UNKNOWN
    assert record["command"] == "python -m y" and record["recovered_from"] == "its README"


def test_data_bench_writes_its_provenance(tmp_path, monkeypatch):
    monkeypatch.setattr(data_bench, "Genome", lambda fasta: None)
    monkeypatch.setattr(data_bench, "bench_tokenizers", lambda genome, copies, repeats: {
        "sequence_nt": 6, "nucleotide_encode_nt_per_s": 3e8, "kmer6_encode_from_ids_nt_per_s": 1e8,
        "reverse_complement_nt_per_s": 2e8})
    monkeypatch.setattr(data_bench, "bench_dataloader", lambda fasta, gff, **kw: {**kw, "nt_per_s": 3e7})
    monkeypatch.setattr(data_bench, "bench_transfer_ceiling", lambda **kw: 1e8)
    out = tmp_path / "cpu-x.json"
    result = data_bench.main(["--out", str(out)])
    assert result["targets"]["tokenizer_met"] and json.loads(out.read_text())["command"] == result["command"]
    record = json.loads((tmp_path / "cpu-x.provenance.json").read_text())
    assert record["results"] == "cpu-x.json" and record["command"] == result["command"]
    assert record["device"].startswith("cpu") and record["machine"]["cpu_count"] >= 1
    assert "numpy" in record["versions"] and record["commit"]
