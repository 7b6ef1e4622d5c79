"""The prediction benchmark script runs at tiny size and writes its JSON; its synthetic FASTA indexes correctly."""

from __future__ import annotations

import json

import torch

from genoattn.bench.predict import main, write_synthetic_fasta
from genoattn.data.fileio import iter_binary_lines
from genoattn.data.genome import Genome, scan_fasta


def test_synthetic_fasta_and_its_index(tmp_path):
    path = tmp_path / "syn.fa"
    info = write_synthetic_fasta(path, 3 * 1001, 3, n_fraction=0.1)
    assert info["bases"] == 3003
    expected = "".join(r.line() for r in scan_fasta(iter_binary_lines(path, None), path))
    assert (tmp_path / "syn.fa.fai").read_text() == expected
    genome = Genome(path, cache_dir=tmp_path / "cache")
    seq = genome.fetch("synthetic2", 0, 1001)
    assert set(seq) <= set("ACGTN") and seq[333:433] == "N" * 100


def test_benchmark_script_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    threads = torch.get_num_threads()
    try:  # one thread: fast and steady at this tiny size on a shared machine
        assert main(["--model", "quickstart", "--d-model", "16", "--num-layers", "1", "--window", "512",
                     "--device", "cpu", "--synthetic-mbp", "0.01", "--contigs", "2", "--forward-repeats", "2",
                     "--threads", "1", "--workdir", str(tmp_path / "work"), "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    result = json.loads(out.read_text())
    assert set(result["modes"]) == {"forward", "pipeline", "bed", "all"}
    assert result["modes"]["pipeline"]["bases"] == 10000 and result["modes"]["all"]["output_bytes"]
    assert result["model"]["d_model"] == 16 and result["geometry"]["window"] == 512
