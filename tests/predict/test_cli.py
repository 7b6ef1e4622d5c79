"""``python -m genoattn.predict``: checkpoints, compressed inputs, window-level outputs, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from genoattn.predict import main

from .conftest import random_sequence, save_checkpoint, tiny_transformer, write_fasta


@pytest.fixture
def checkpoint(tmp_path):
    return save_checkpoint(tmp_path / "model.ckpt", tiny_transformer(), window=256)


@pytest.fixture
def records():
    return {"chr1": random_sequence(1500, 11), "plasmid": random_sequence(120, 12).lower(), "blank": ""}


def run(*args: str) -> int:
    return main([*map(str, args), "--quiet"])


def files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.endswith(".json")}


def test_plain_gzip_bgzip_and_case_give_the_same_files(tmp_path, checkpoint, records):
    outs = []
    for i, compression in enumerate([None, "gzip", "bgzip"]):
        folder = tmp_path / f"in{i}"
        folder.mkdir()
        name = {None: "genome.fa", "gzip": "genome.fa.gz", "bgzip": "genome.fa.bgz"}[compression]
        fasta = write_fasta(folder / name, records, compression)
        assert run("--checkpoint", checkpoint, "--fasta", fasta, "--out", tmp_path / f"out{i}",
                   "--cache-dir", tmp_path / "cache", "--bedgraph") == 0
        outs.append(files(tmp_path / f"out{i}"))
    assert outs[0] == outs[1] == outs[2]
    assert set(outs[0]) == {"genome.bedGraph", "genome.bed"}
    upper = write_fasta(tmp_path / "genome.fa", {k: v.upper() for k, v in records.items()})
    assert run("--checkpoint", checkpoint, "--fasta", upper, "--out", tmp_path / "upper", "--bedgraph") == 0
    assert files(tmp_path / "upper") == outs[0]  # lowercase (soft-masked) bases predict like uppercase


def test_several_inputs_and_lightning_path(tmp_path, checkpoint, records):
    a = write_fasta(tmp_path / "a.fa", records)
    b = write_fasta(tmp_path / "b.fasta", {"x": random_sequence(800, 13)})
    assert run("--checkpoint", checkpoint, "--fasta", a, b, "--out", tmp_path / "fast", "--batch-size", 3,
               "--bedgraph") == 0
    assert set(files(tmp_path / "fast")) == {"a.bedGraph", "a.bed", "b.bedGraph", "b.bed"}
    assert run("--checkpoint", checkpoint, "--fasta", a, b, "--out", tmp_path / "pl", "--batch-size", 3,
               "--device", "cpu", "--lightning", "--bedgraph") == 0
    assert files(tmp_path / "pl") == files(tmp_path / "fast")
    assert not (tmp_path / "pl" / ".genoattn-predict-scores").exists()


def test_regression_checkpoint_writes_tsv(tmp_path, records):
    ckpt = save_checkpoint(tmp_path / "reg.ckpt", tiny_transformer(task="regression", num_classes=1), window=256)
    fasta = write_fasta(tmp_path / "g.fa", records)
    assert run("--checkpoint", ckpt, "--fasta", fasta, "--out", tmp_path / "out", "--stride", 512) == 0
    lines = (tmp_path / "out" / "g.tsv").read_text().splitlines()
    assert lines[0] == "#contig\tstart\tend\tn_fraction\tvalue"
    assert [line.split("\t")[:3] for line in lines[1:]] == [
        ["chr1", "0", "256"], ["chr1", "512", "768"], ["chr1", "1024", "1280"], ["chr1", "1244", "1500"],
        ["plasmid", "0", "120"]]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_errors_are_one_line_with_exit_status_2(tmp_path, checkpoint, records, capsys):
    good = write_fasta(tmp_path / "good.fa", records)
    headers_only = tmp_path / "headers.fa"
    headers_only.write_text(">a\n>b\n")
    assert run("--checkpoint", checkpoint, "--fasta", good, headers_only, "--out", tmp_path / "o1") == 2
    message = one_line_error(capsys)
    assert message.startswith("genoattn.predict: error:") and "headers.fa" in message and "no sequence" in message
    assert not (tmp_path / "o1").exists()  # no work done, and the folder this run created is gone again

    not_fasta = tmp_path / "notes.fa"
    not_fasta.write_text("hello\n")
    assert run("--checkpoint", checkpoint, "--fasta", not_fasta, "--out", tmp_path / "o2") == 2
    assert "notes.fa" in one_line_error(capsys)

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert run("--checkpoint", checkpoint, "--fasta", good, "--out", blocker / "sub") == 2
    message = one_line_error(capsys)
    assert "a-file" in message and "cannot be written" in message


@pytest.mark.parametrize("change,expected", [
    ("other-program", "not a genoattn checkpoint"),
    ("format", "format 2"),
    ("task", "'mlm' cannot be used for prediction"),
    ("garbage", "not a readable PyTorch checkpoint"),
])
def test_bad_checkpoints(tmp_path, records, capsys, change, expected):
    path = tmp_path / "bad.ckpt"
    if change == "other-program":
        torch.save({"state_dict": {}, "epoch": 3}, path)
    elif change == "format":
        save_checkpoint(path, tiny_transformer(), fmt=2)
    elif change == "task":
        save_checkpoint(path, tiny_transformer(task="mlm"))
    else:
        path.write_bytes(b"PK\x03\x04 truncated")
    fasta = write_fasta(tmp_path / "g.fa", records)
    assert run("--checkpoint", path, "--fasta", fasta, "--out", tmp_path / "out") == 2
    message = one_line_error(capsys)
    assert "bad.ckpt" in message and expected in message


def test_module_entry_point_exit_status(tmp_path, checkpoint):
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    proc = subprocess.run([sys.executable, "-m", "genoattn.predict", "--checkpoint", str(checkpoint), "--fasta",
                           str(empty), "--out", str(tmp_path / "out"), "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "empty.fa" in proc.stderr


def test_two_processes_through_lightning(tmp_path, checkpoint, records):
    """--devices 2 on CPU (DDP over gloo): the processes share the batches, process 0 writes the same files."""
    fasta = write_fasta(tmp_path / "g.fa", {**records, "more": random_sequence(2500, 14)})
    assert run("--checkpoint", checkpoint, "--fasta", fasta, "--out", tmp_path / "one", "--batch-size", 2) == 0
    proc = subprocess.run([sys.executable, "-m", "genoattn.predict", "--checkpoint", str(checkpoint), "--fasta",
                           str(fasta), "--out", str(tmp_path / "two"), "--batch-size", "2", "--device", "cpu",
                           "--devices", "2", "--quiet"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert files(tmp_path / "two") == files(tmp_path / "one")


def test_checkpoint_record_from_the_training_module(tmp_path, records):
    """A record made by genoattn.lit.checkpoint.build_record (what training writes) loads and predicts."""
    from types import SimpleNamespace

    from genoattn.lit.checkpoint import build_record

    net = tiny_transformer(num_classes=3)
    data = SimpleNamespace(window=256, tokenizer=SimpleNamespace(k=1), k=3, label_mode="strand",
                           feature_types=["CDS"], uppercase=True)
    record = build_record("token_classification", 3, net, data)
    path = tmp_path / "trained.ckpt"
    torch.save({"genoattn": record, "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, path)
    fasta = write_fasta(tmp_path / "g.fa", records)
    assert run("--checkpoint", path, "--fasta", fasta, "--out", tmp_path / "out", "--rc", "--bedgraph") == 0
    assert set(files(tmp_path / "out")) == {"g.none.bedGraph", "g.plus.bedGraph", "g.minus.bedGraph", "g.bed"}


def test_a_second_run_into_the_same_folder_is_refused(tmp_path, checkpoint, records, capsys):
    """While one run holds the output folder (another process), a second stops with one line and touches nothing;
    the lock goes with the first process."""
    fasta = write_fasta(tmp_path / "g.fa", records)
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from genoattn.inference.folder import output_folder\n"
         f"with output_folder({str(out)!r}):\n    print('locked', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert run("--checkpoint", checkpoint, "--fasta", fasta, "--out", out) == 2
        message = one_line_error(capsys)
        assert "another genoattn.predict run is writing into this folder" in message and str(out) in message
        assert not list(out.iterdir())
    finally:
        holder.communicate("\n", timeout=60)
    assert run("--checkpoint", checkpoint, "--fasta", fasta, "--out", out, "--bedgraph") == 0
    assert set(files(out)) == {"g.bedGraph", "g.bed"}


@pytest.mark.parametrize("flags,expected", [(["--batch-size", "0"], "batch_size: expected an integer >= 1, got 0"),
                                            (["--no-bedgraph", "--no-bed"], "leave nothing to write")])
def test_options_that_would_do_nothing_are_refused(tmp_path, checkpoint, records, capsys, flags, expected):
    fasta = write_fasta(tmp_path / "g.fa", records)
    assert run("--checkpoint", checkpoint, "--fasta", fasta, "--out", tmp_path / "out", *flags) == 2
    assert expected in one_line_error(capsys)
    assert not (tmp_path / "out").exists()  # the folder this run made is removed again


def test_protein_fasta_is_refused_and_odd_letters_are_noted(tmp_path, checkpoint, capsys, caplog):
    protein = tmp_path / "p.fa"
    protein.write_text(">sp|P69905|HBA_HUMAN\nMVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHFDLSHGSAQVKGHGKKVADALTNAVAHV\n")
    assert run("--checkpoint", checkpoint, "--fasta", protein, "--out", tmp_path / "o1") == 2
    message = one_line_error(capsys)
    assert "p.fa: not DNA" in message and "protein" in message and "are not IUPAC nucleotide codes" in message
    odd = write_fasta(tmp_path / "odd.fa", {"a": random_sequence(997, 1) + "XXX"})
    assert run("--checkpoint", checkpoint, "--fasta", odd, "--out", tmp_path / "o2") == 0
    assert "0.30% of the first 1,000 letters are not IUPAC nucleotide codes (X); they are read as N" in caplog.text


def test_plain_text_named_gz_reads_like_plain_and_leaves_nothing_beside(tmp_path, checkpoint, records):
    folder = tmp_path / "in"
    folder.mkdir()
    write_fasta(folder / "g.fa.gz", records)  # not compressed
    assert run("--checkpoint", checkpoint, "--fasta", folder / "g.fa.gz", "--out", tmp_path / "o1",
               "--cache-dir", tmp_path / "cache") == 0
    assert [p.name for p in folder.iterdir()] == ["g.fa.gz"]
    plain = write_fasta(tmp_path / "g.fa", records)
    assert run("--checkpoint", checkpoint, "--fasta", plain, "--out", tmp_path / "o2") == 0
    assert files(tmp_path / "o1") == files(tmp_path / "o2")


class FullDisk:
    """open() for the output module whose files refuse writes (ENOSPC) once ``budget`` bytes were written."""

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def __call__(self, path, mode="r", *args, **kwargs):
        import builtins
        import errno

        fh = builtins.open(path, mode, *args, **kwargs)
        disk = self

        class Limited:
            def write(self, data):
                if len(data) > disk.budget:
                    raise OSError(errno.ENOSPC, "No space left on device")
                disk.budget -= len(data)
                return fh.write(data)

            def __getattr__(self, name):
                return getattr(fh, name)

        return Limited()


def test_full_disk_is_one_line_and_resume_completes(tmp_path, checkpoint, records, capsys, monkeypatch):
    from genoattn.inference import outputs

    fasta = write_fasta(tmp_path / "g.fa", {**records, "more": random_sequence(3000, 5)})
    assert run("--checkpoint", checkpoint, "--fasta", fasta, "--out", tmp_path / "clean", "--bedgraph") == 0
    monkeypatch.setattr(outputs, "open", FullDisk(budget=20_000), raising=False)
    assert run("--checkpoint", checkpoint, "--fasta", fasta, "--out", tmp_path / "out", "--bedgraph") == 2
    message = one_line_error(capsys)
    assert "No space left on device" in message and "rerun with --resume" in message
    assert not (tmp_path / "out" / "g.bedGraph").exists()
    monkeypatch.undo()  # space freed
    assert run("--checkpoint", checkpoint, "--fasta", fasta, "--out", tmp_path / "out", "--resume", "--bedgraph") == 0
    assert files(tmp_path / "out") == files(tmp_path / "clean")
