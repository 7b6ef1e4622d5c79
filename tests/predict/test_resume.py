"""Atomic outputs and --resume: an interrupted run leaves no finished-looking file and resumes to identical bytes."""

from __future__ import annotations

import json

import pytest

from genoattn.errors import InputError
from genoattn.inference import ModelInfo, PredictOptions, predict_files, receptive_field
from genoattn.inference.model import patch_size

from .conftest import random_sequence, tiny_transformer, write_fasta


class InterruptedRunError(Exception):
    pass


def interrupt_after(count: int):
    seen = []

    def hook(input_index: int, contig: str) -> None:
        seen.append(contig)
        if len(seen) == count:
            raise InterruptedRunError(contig)

    return hook


@pytest.fixture
def setup(tmp_path):
    records = {f"c{i}": random_sequence(n, i) for i, n in enumerate([700, 90, 1300, 0, 450, 33])}
    fasta = write_fasta(tmp_path / "genome.fa", records)
    net = tiny_transformer()
    info = ModelInfo("token_classification", 2, 256, patch_size=patch_size(net), receptive_field=receptive_field(net),
                     feature_types=("CDS",))
    return tmp_path, fasta, net, info


def outputs(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.endswith(".json")}


@pytest.mark.parametrize("stop_after", [1, 3, 5])
def test_interrupted_run_resumes_to_identical_files(setup, stop_after):
    tmp_path, fasta, net, info = setup
    options = PredictOptions(batch_size=3, merge_gap=2, min_length=2, progress=False, track="bedgraph")
    predict_files(net, info, [fasta], tmp_path / "full", options)
    reference = outputs(tmp_path / "full")
    assert set(reference) == {"genome.bedGraph", "genome.bed"}

    with pytest.raises(InterruptedRunError):
        predict_files(net, info, [fasta], tmp_path / "run", options, on_contig_done=interrupt_after(stop_after))
    left = {p.name for p in (tmp_path / "run").iterdir()}
    assert "genome.bedGraph" not in left and "genome.bed" not in left  # nothing that looks finished
    assert {".genome.bedGraph.partial", ".genome.bed.partial", "genome.state.json"} <= left
    state = json.loads((tmp_path / "run" / "genome.state.json").read_text())
    assert state["done"] == stop_after and not state["complete"]
    for name in (".genome.bedGraph.partial", ".genome.bed.partial"):  # as if killed in the middle of a contig
        with open(tmp_path / "run" / name, "ab") as fh:
            fh.write(b"c9\t0\t1\thalf-written\n")

    resumed = PredictOptions(batch_size=3, merge_gap=2, min_length=2, progress=False, resume=True, track="bedgraph")
    seen = []
    report = predict_files(net, info, [fasta], tmp_path / "run", resumed,
                           on_contig_done=lambda i, contig: seen.append(contig))
    assert seen == [f"c{i}" for i in range(stop_after, 6)]  # finished contigs were skipped
    assert report.bases == sum(len(random_sequence(n, i)) for i, n in enumerate([700, 90, 1300, 0, 450, 33])
                               if i >= stop_after)
    assert outputs(tmp_path / "run") == reference
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".partial")]

    again = predict_files(net, info, [fasta], tmp_path / "run", resumed)  # complete: nothing to do
    assert again.bases == 0 and again.inputs[0]["skipped_complete"]
    assert outputs(tmp_path / "run") == reference


def test_resume_refuses_changed_options(setup):
    tmp_path, fasta, net, info = setup
    with pytest.raises(InterruptedRunError):
        predict_files(net, info, [fasta], tmp_path / "run", PredictOptions(batch_size=3, progress=False),
                      on_contig_done=interrupt_after(1))
    changed = PredictOptions(batch_size=3, progress=False, threshold=0.7, resume=True)
    with pytest.raises(InputError, match=r"cannot resume: options.threshold changed"):
        predict_files(net, info, [fasta], tmp_path / "run", changed)


def test_rerun_without_resume_starts_over(setup):
    tmp_path, fasta, net, info = setup
    options = PredictOptions(batch_size=3, progress=False)
    with pytest.raises(InterruptedRunError):
        predict_files(net, info, [fasta], tmp_path / "run", options, on_contig_done=interrupt_after(2))
    report = predict_files(net, info, [fasta], tmp_path / "run", options)
    assert report.inputs[0]["contigs"] == 6
    predict_files(net, info, [fasta], tmp_path / "full", options)
    assert outputs(tmp_path / "run") == outputs(tmp_path / "full")


def small_chunks(monkeypatch) -> None:
    """Track writers process chunks of 128 bases and every chance to save a point inside a region is taken."""
    from genoattn.inference import outputs, track_writer

    monkeypatch.setattr(track_writer, "CHUNK", 128)
    monkeypatch.setattr(outputs, "STATE_INTERVAL_S", 0.0)


def interrupt_inside(monkeypatch, after: int, region: str) -> list:
    """Raise after the ``after``-th point saved inside ``region``, as a kill would; returns those points."""
    from genoattn.inference import outputs

    saved = []
    original = outputs.OutputFiles.save_inside

    def save_inside(self, name, position, *args):
        original(self, name, position, *args)
        if name == region:
            saved.append((name, position))
        if len(saved) == after:
            raise InterruptedRunError(name)

    monkeypatch.setattr(outputs.OutputFiles, "save_inside", save_inside)
    return saved


@pytest.mark.parametrize("model", ["binary", "binary-bedgraph", "strand", "regression", "regression-per-record"])
def test_resume_inside_a_long_contig(tmp_path, monkeypatch, model):
    """A run killed inside a long contig resumes from the last saved point (not the contig start) and gives the
    same bytes as an uninterrupted run: bigWig tracks (the default) or bedGraph runs, BED calls of one or several
    classes, TSV rows."""
    records = {"a": random_sequence(300, 1), "long": random_sequence(2500, 2), "b": random_sequence(90, 3)}
    fasta = write_fasta(tmp_path / "genome.fa", records)
    task, classes = ("regression", 1) if model.startswith("regression") else ("token_classification",
                                                                            3 if model == "strand" else 2)
    net = tiny_transformer(task=task, num_classes=classes)
    info = ModelInfo(task, classes, 256, patch_size=patch_size(net), receptive_field=receptive_field(net),
                     label_mode="strand" if model == "strand" else "binary", feature_types=("CDS",))
    options = dict(batch_size=3, threshold=0.34, merge_gap=3, progress=False, stride=100,
                   per_record=model.endswith("per-record"),
                   track="bedgraph" if model.endswith("bedgraph") else "bigwig")
    small_chunks(monkeypatch)
    predict_files(net, info, [fasta], tmp_path / "full", PredictOptions(**options))
    reference = outputs(tmp_path / "full")
    saved = interrupt_inside(monkeypatch, after=4, region="long")
    with pytest.raises(InterruptedRunError):
        predict_files(net, info, [fasta], tmp_path / "run", PredictOptions(**options))
    _, position = saved[-1]
    assert 0 < position < 2500
    state = json.loads((tmp_path / "run" / "genome.state.json").read_text())
    assert state["done"] == 1 and state["partial"]["position"] == position
    for partial in (tmp_path / "run").glob(".*.partial"):  # as if killed while writing
        with open(partial, "ab") as fh:
            fh.write(b"long\t1\t2\thalf-written\n")

    report = predict_files(net, info, [fasta], tmp_path / "run", PredictOptions(**options, resume=True))
    assert report.bases == 2500 - position + 90  # the long contig continued from the saved point
    assert outputs(tmp_path / "run") == reference
    if model == "strand":  # several classes: calls written sorted by (start, end, class) as they became final
        rows = [line.split("\t") for line in reference["genome.bed"].decode().splitlines()[1:]]
        order = {"plus": 1, "minus": 2}
        keys = [(row[0], int(row[1]), int(row[2]), order[row[3]]) for row in rows]
        assert len(keys) > 3 and keys == sorted(keys, key=lambda k: (list(records).index(k[0]), *k[1:]))


def test_lightning_path_resumes_inside_a_contig(tmp_path, monkeypatch):
    """A point saved inside a contig by the single-process path is continued by the multi-device path's plan."""
    from genoattn.inference.distributed import predict_files_lightning

    fasta = write_fasta(tmp_path / "genome.fa", {"a": random_sequence(300, 1), "long": random_sequence(2500, 2)})
    net = tiny_transformer()
    info = ModelInfo("token_classification", 2, 256, patch_size=patch_size(net), receptive_field=receptive_field(net),
                     feature_types=("CDS",))
    options = dict(batch_size=3, progress=False, device="cpu")
    small_chunks(monkeypatch)
    predict_files(net, info, [fasta], tmp_path / "full", PredictOptions(**options))
    interrupt_inside(monkeypatch, after=3, region="long")
    with pytest.raises(InterruptedRunError):
        predict_files(net, info, [fasta], tmp_path / "run", PredictOptions(**options))
    report = predict_files_lightning(net, info, [fasta], tmp_path / "run", PredictOptions(**options, resume=True))
    assert 0 < report.bases < 2500
    assert outputs(tmp_path / "run") == outputs(tmp_path / "full")
