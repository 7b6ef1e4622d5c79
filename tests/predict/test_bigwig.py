"""bigWig tracks, predict's default dense output: the bedGraph's values, every contig in the header, built while the
run goes, resumable (the values replayed into a fresh bigWig), one-line errors when writing it fails."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from genoattn.inference import ModelInfo, PredictOptions, predict_files, receptive_field
from genoattn.inference.bigwig import BLOCK, BigWigBuilder, check_bigwig
from genoattn.inference.builder_process import BuilderProcess
from genoattn.inference.evaluate import read_track
from genoattn.inference.model import patch_size
from genoattn.inference.regions import Region

from .conftest import ToyConv, random_sequence, save_checkpoint, tiny_transformer, write_fasta
from .test_cli import FullDisk, files, one_line_error, run


@pytest.fixture
def fasta(tmp_path, genome_records):
    return write_fasta(tmp_path / "g.fa", genome_records)


@pytest.mark.parametrize("classes", [2, 3])
def test_default_bigwig_holds_the_bedgraph_values(tmp_path, fasta, genome_records, classes):
    ckpt = save_checkpoint(tmp_path / "m.ckpt", tiny_transformer(num_classes=classes), window=256,
                           label_mode="binary" if classes == 2 else "strand")
    assert run("--checkpoint", ckpt, "--fasta", fasta, "--out", tmp_path / "bw") == 0
    assert run("--checkpoint", ckpt, "--fasta", fasta, "--out", tmp_path / "bg", "--bedgraph") == 0
    tracks = [""] if classes == 2 else [".none", ".plus", ".minus"]
    assert set(files(tmp_path / "bw")) == {f"g{t}.bw" for t in tracks} | {"g.bed"}
    assert files(tmp_path / "bw")["g.bed"] == files(tmp_path / "bg")["g.bed"]
    lengths = {name: len(seq) for name, seq in genome_records.items()}
    for t in tracks:
        bigwig = read_track(tmp_path / "bw" / f"g{t}.bw", lengths)
        bedgraph = read_track(tmp_path / "bg" / f"g{t}.bedGraph", lengths)
        for name in lengths:
            np.testing.assert_array_equal(bigwig[name], bedgraph[name], err_msg=name)  # NaN in the N run too
    import pyBigWig

    with pyBigWig.open(str(tmp_path / "bw" / f"g{tracks[0]}.bw")) as bw:
        assert dict(bw.chroms()) == {name: n for name, n in lengths.items() if n}  # every non-empty contig


def test_regions_write_values_on_their_bases_only(tmp_path, fasta, genome_records):
    net = ToyConv(6)
    info = ModelInfo("token_classification", 2, 256, patch_size=patch_size(net), receptive_field=receptive_field(net),
                     feature_types=("CDS",))
    lengths = {name: len(seq) for name, seq in genome_records.items()}
    options = dict(batch_size=3, bed=False, progress=False)
    predict_files(net, info, [fasta], tmp_path / "all", PredictOptions(**options))
    predict_files(net, info, [fasta], tmp_path / "some", PredictOptions(**options, regions=("chrA:101-900", "short")))
    full = read_track(tmp_path / "all" / "g.bw", lengths)
    part = read_track(tmp_path / "some" / "g.bw", lengths)
    np.testing.assert_array_equal(part["chrA"][100:900], full["chrA"][100:900])
    np.testing.assert_array_equal(part["short"], full["short"])
    assert np.isnan(part["chrA"][:100]).all() and np.isnan(part["chrA"][900:]).all() and np.isnan(part["soft"]).all()


def test_interrupted_before_the_bigwig_is_closed_resumes_to_identical_files(tmp_path):
    fasta = write_fasta(tmp_path / "g.fa", {"a": random_sequence(700, 1), "b": random_sequence(400, 2)})
    net = tiny_transformer()
    info = ModelInfo("token_classification", 2, 256, patch_size=patch_size(net), receptive_field=receptive_field(net),
                     feature_types=("CDS",))
    options = PredictOptions(batch_size=3, progress=False)
    predict_files(net, info, [fasta], tmp_path / "full", options)

    def stop_at_the_last(input_index: int, region: str) -> None:
        if region == "b":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_files(net, info, [fasta], tmp_path / "run", options, on_contig_done=stop_at_the_last)
    left = {p.name for p in (tmp_path / "run").iterdir()}
    assert ".g.bw.partial" in left and "g.bw" not in left and "g.bed" not in left
    assert ".g.bw.building" not in left  # the unfinished bigWig is removed (a resumed run rebuilds it)
    report = predict_files(net, info, [fasta], tmp_path / "run", PredictOptions(batch_size=3, progress=False,
                                                                                 resume=True))
    assert report.bases <= 400  # a: recorded as done (b may be redone)
    assert files(tmp_path / "run") == files(tmp_path / "full")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["g.bed", "g.bw", "g.state.json"]


def test_failed_bigwig_close_is_one_line_and_resume_completes(tmp_path, fasta, capsys, monkeypatch):
    ckpt = save_checkpoint(tmp_path / "m.ckpt", tiny_transformer(), window=256)
    assert run("--checkpoint", ckpt, "--fasta", fasta, "--out", tmp_path / "clean") == 0

    def no_space(self):  # the child's builder failed to close (tests/predict/test_builder_process.py: for real)
        self.abort()
        raise OSError(errno.ENOSPC, "No space left on device", str(self.target))

    monkeypatch.setattr(BuilderProcess, "finish", no_space)
    assert run("--checkpoint", ckpt, "--fasta", fasta, "--out", tmp_path / "out") == 2
    message = one_line_error(capsys)
    assert "No space left on device" in message and "rerun with --resume" in message
    left = {p.name for p in (tmp_path / "out").iterdir()}
    assert left == {".g.bw.partial", ".g.bed.partial", "g.state.json"}  # nothing renamed, no half bigWig
    monkeypatch.undo()
    assert run("--checkpoint", ckpt, "--fasta", fasta, "--out", tmp_path / "out", "--resume") == 0
    assert files(tmp_path / "out") == files(tmp_path / "clean")


def test_full_disk_while_streaming_values_resumes(tmp_path, capsys, monkeypatch):
    from genoattn.inference import outputs

    ckpt = save_checkpoint(tmp_path / "m.ckpt", tiny_transformer(), window=256)
    fasta = write_fasta(tmp_path / "g.fa", {"a": random_sequence(1500, 1), "more": random_sequence(9000, 5)})
    assert run("--checkpoint", ckpt, "--fasta", fasta, "--out", tmp_path / "clean") == 0
    monkeypatch.setattr(outputs, "open", FullDisk(budget=6_000), raising=False)
    assert run("--checkpoint", ckpt, "--fasta", fasta, "--out", tmp_path / "out") == 2
    assert "No space left on device" in one_line_error(capsys)
    assert not (tmp_path / "out" / "g.bw").exists()
    monkeypatch.undo()
    assert run("--checkpoint", ckpt, "--fasta", fasta, "--out", tmp_path / "out", "--resume") == 0
    assert files(tmp_path / "out") == files(tmp_path / "clean")


def test_bigwig_bytes_do_not_depend_on_write_sizes_and_a_truncated_one_is_caught(tmp_path):
    n = 2 * BLOCK + 123
    units = (np.arange(n) % 1000).astype(np.uint16)
    units[100:200] = np.iinfo(np.uint16).max  # masked
    contigs = {"c": n, "d": 10}
    regions = (Region("c", 0, n, n), Region("d", 2, 9, 10))
    data = units.tobytes() + units[:7].tobytes()
    built = []
    for i, cuts in enumerate([[0, len(data)], [0, 6, 1000, 2 * (2 * BLOCK + 7), len(data) - 4, len(data)]]):
        builder = BigWigBuilder(regions, contigs, 3)
        builder.open(tmp_path / f"{i}.bw", [data[a:b] for a, b in zip(cuts[:-1], cuts[1:])][:1])
        for a, b in zip(cuts[1:-1], cuts[2:]):
            builder.add(data[a:b])
        builder.finish()
        built.append((tmp_path / f"{i}.bw").read_bytes())
    assert built[0] == built[1]
    contigs_read = read_track(tmp_path / "0.bw", contigs)
    np.testing.assert_array_equal(contigs_read["d"][2:9], (units[:7] / 1000).astype(np.float32))
    check_bigwig(tmp_path / "0.bw", contigs, n - 100 + 7)
    with pytest.raises(OSError, match="does not read back complete"):
        check_bigwig(tmp_path / "0.bw", contigs, n)
    for cut in (len(built[0]) // 2, len(built[0]) - 100):  # a full disk cuts the tail
        (tmp_path / "t.bw").write_bytes(built[0][:cut])
        with pytest.raises(OSError, match="does not read back"):
            check_bigwig(tmp_path / "t.bw", contigs, n - 100 + 7)
    with pytest.raises(OSError, match="does not read back complete"):
        check_bigwig(tmp_path / "t.bw", contigs, 5000)


def test_no_track_writes_the_calls_only_and_unknown_formats_are_refused(tmp_path, fasta):
    from genoattn.errors import ConfigError

    ckpt = save_checkpoint(tmp_path / "m.ckpt", tiny_transformer(), window=256)
    assert run("--checkpoint", ckpt, "--fasta", fasta, "--out", tmp_path / "out", "--no-track") == 0
    assert set(files(tmp_path / "out")) == {"g.bed"}
    with pytest.raises(ConfigError, match="track: expected one of"):
        PredictOptions(track="wig").check()
