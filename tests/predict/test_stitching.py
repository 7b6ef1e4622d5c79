"""Stitched tiles equal a single pass over each whole contig; N runs; RC averaging; window-level TSV."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genoattn.attention.patterns import SlidingWindow
from genoattn.data.tokenizers import encode_nucleotides
from genoattn.inference import ModelInfo, PredictOptions, predict_files, receptive_field
from genoattn.inference.model import patch_size

from .conftest import ToyConv, random_sequence, read_bedgraph, tiny_transformer, write_fasta

QUIET = {"progress": False}
BEDGRAPH = {"track": "bedgraph"}  # these tests read the values back from the bedGraph text


def info_for(net, window=256, **kw) -> ModelInfo:
    return ModelInfo(kw.pop("task", "token_classification"), kw.pop("num_classes", 2), window,
                     patch_size=patch_size(net), receptive_field=receptive_field(net), **kw)


def single_pass(net, seq: str, channel: int = 1, rc: bool = False) -> np.ndarray:
    """Positive-class probability of one forward pass over the whole sequence, optionally RC-averaged; the RC
    strand is that of the sequence padded with PAD to a multiple of the patch size (the forward patch grid)."""
    from genoattn.models.rc import rc_average

    ids = torch.from_numpy(encode_nucleotides(seq)).long()[None]
    if rc:
        ids = torch.nn.functional.pad(ids, (0, -len(seq) % patch_size(net)))  # PAD = 0
    with torch.no_grad():
        logits = rc_average(net, ids, task="token_classification") if rc else net(ids)
    return logits.double().softmax(-1)[0, : len(seq), channel].numpy()


@pytest.mark.parametrize("make_net", [lambda: ToyConv(6).double(), lambda: tiny_transformer().double()],
                         ids=["conv", "sliding-window-transformer"])
@pytest.mark.parametrize("rc,pad_batches", [(False, False), (True, False), (False, True)])
def test_stitched_equals_single_pass(tmp_path, genome_records, make_net, rc, pad_batches):
    """float64 models, so the only differences left are the float32 scores and the 8 written decimals.
    ``pad_batches`` pads every batch of full windows to batch_size rows (the CUDA default)."""
    net = make_net()
    fasta = write_fasta(tmp_path / "g.fa", genome_records)
    options = PredictOptions(batch_size=3, decimals=8, bed=False, rc=rc, min_n_run=10**9, pad_batches=pad_batches,
                             **QUIET, **BEDGRAPH)
    predict_files(net, info_for(net), [fasta], tmp_path / "out", options)
    got = read_bedgraph(tmp_path / "out" / "g.bedGraph", {k: len(v) for k, v in genome_records.items()})
    for name, seq in genome_records.items():
        if seq:
            assert np.abs(got[name] - single_pass(net, seq, rc=rc)).max() < 1e-6, name


def test_too_little_context_shows_seams(tmp_path, genome_records):
    """The comparison above is sensitive: a context below the receptive field breaks it."""
    net = ToyConv(6).double()
    fasta = write_fasta(tmp_path / "g.fa", genome_records)
    options = PredictOptions(batch_size=3, decimals=8, bed=False, context=2, **QUIET, **BEDGRAPH)
    predict_files(net, info_for(net), [fasta], tmp_path / "out", options)
    got = read_bedgraph(tmp_path / "out" / "g.bedGraph", {k: len(v) for k, v in genome_records.items()})
    assert np.abs(got["chrA"] - single_pass(net, genome_records["chrA"])).max() > 1e-3


def test_n_runs_are_masked_and_skipped(tmp_path):
    records = {"gap": random_sequence(300, 5) + "N" * 1500 + random_sequence(300, 6)}
    net = ToyConv(4).double()
    fasta = write_fasta(tmp_path / "g.fa", records)
    options = PredictOptions(batch_size=2, decimals=4, threshold=0.0, window=128,  # call every base
                             **QUIET, **BEDGRAPH)
    predict_files(net, info_for(net, window=128), [fasta], tmp_path / "out", options)
    values = read_bedgraph(tmp_path / "out" / "g.bedGraph", {"gap": 2100})["gap"]
    assert np.isnan(values[300:1800]).all() and not np.isnan(values[:300]).any() and not np.isnan(values[1800:]).any()
    calls = [line.split("\t") for line in (tmp_path / "out" / "g.bed").read_text().splitlines()[1:]]
    assert [(int(c[1]), int(c[2])) for c in calls] == [(0, 300), (1800, 2100)]
    tiles_run = net.calls
    assert tiles_run < 2100 // (128 - 8)  # windows inside the N run were not run


def test_rc_averaging_is_strand_symmetric(tmp_path):
    """With --rc, a sequence and its reverse complement get mirrored tracks (strand classes swapped)."""
    seq = random_sequence(900, 7)
    rc_seq = seq.translate(str.maketrans("ACGT", "TGCA"))[::-1]
    net = tiny_transformer(num_classes=3).double()
    fasta = write_fasta(tmp_path / "g.fa", {"fwd": seq, "rev": rc_seq})
    info = info_for(net, num_classes=3, label_mode="strand")
    options = PredictOptions(batch_size=4, decimals=8, rc=True, **QUIET, **BEDGRAPH)
    predict_files(net, info, [fasta], tmp_path / "out", options)
    lengths = {"fwd": 900, "rev": 900}
    tracks = {c: read_bedgraph(tmp_path / "out" / f"g.{c}.bedGraph", lengths) for c in ("none", "plus", "minus")}
    assert np.allclose(tracks["none"]["fwd"], tracks["none"]["rev"][::-1], atol=1e-6)
    assert np.allclose(tracks["plus"]["fwd"], tracks["minus"]["rev"][::-1], atol=1e-6)
    assert np.allclose(tracks["minus"]["fwd"], tracks["plus"]["rev"][::-1], atol=1e-6)
    assert not np.allclose(tracks["plus"]["fwd"], tracks["minus"]["fwd"], atol=1e-3)  # not trivially equal
    total = tracks["none"]["fwd"] + tracks["plus"]["fwd"] + tracks["minus"]["fwd"]
    assert np.allclose(total, 1.0, atol=1e-6)
    bed = (tmp_path / "out" / "g.bed").read_text().splitlines()[1:]
    assert {line.split("\t")[3] for line in bed} <= {"plus", "minus"}


@pytest.mark.parametrize("per_record", [False, True])
def test_window_level_tsv(tmp_path, per_record):
    net = tiny_transformer(task="sequence_classification").double()
    records = {"a": random_sequence(700, 8), "b": random_sequence(50, 9), "n": "N" * 400}
    fasta = write_fasta(tmp_path / "g.fa", records)
    info = info_for(net, task="sequence_classification", window=256)
    options = PredictOptions(batch_size=2, decimals=6, per_record=per_record, **QUIET)
    predict_files(net, info, [fasta], tmp_path / "out", options)
    lines = (tmp_path / "out" / "g.tsv").read_text().splitlines()
    assert lines[0] == "#contig\tstart\tend\tn_fraction\tprob_background\tprob_positive"
    rows = [line.split("\t") for line in lines[1:]]

    def window_probs(seq):
        ids = torch.from_numpy(encode_nucleotides(seq)).long()[None]
        with torch.no_grad():
            return net(ids).softmax(-1)[0].numpy()

    if per_record:
        assert [r[:3] for r in rows] == [["a", "0", "700"], ["b", "0", "50"], ["n", "0", "400"]]
        assert rows[2][4:] == ["NA", "NA"]  # every window inside N
        mean = np.mean([window_probs(records["a"][s:s + 256]) for s in (0, 256, 444)], axis=0)
        assert np.allclose([float(x) for x in rows[0][4:]], mean, atol=2e-6)
    else:
        assert [r[:3] for r in rows] == [["a", "0", "256"], ["a", "256", "512"], ["a", "444", "700"], ["b", "0", "50"]]
        for row in rows:
            expected = window_probs(records[row[0]][int(row[1]):int(row[2])])
            assert np.allclose([float(x) for x in row[4:]], expected, atol=2e-6)


@pytest.mark.parametrize("rc", [False, True])
def test_kmer_model_stitched_equals_single_pass(tmp_path, rc):
    """3-mer tokens with patches of 2: windows align to 6 nt; outputs per k-mer are repeated over its bases."""
    from genoattn.data.tokenizers import KmerTokenizer
    from genoattn.models import GenomeTransformer

    torch.manual_seed(1)
    tokenizer = KmerTokenizer(3)
    net = GenomeTransformer(vocab_size=tokenizer.vocab_size, num_classes=2, d_model=16, num_layers=2, num_heads=2,
                            dropout=0.0, patch_size=2, attention=SlidingWindow(3), backend="blocked").double().eval()
    records = {"a": random_sequence(1001, 21), "b": random_sequence(100, 22)}
    fasta = write_fasta(tmp_path / "g.fa", records)
    info = ModelInfo("token_classification", 2, 240, tokenizer="kmer", k=3, patch_size=2,
                     receptive_field=receptive_field(net, k=3))
    options = PredictOptions(batch_size=2, decimals=8, bed=False, rc=rc, **QUIET, **BEDGRAPH)
    predict_files(net, info, [fasta], tmp_path / "out", options)
    got = read_bedgraph(tmp_path / "out" / "g.bedGraph", {k: len(v) for k, v in records.items()})
    for name, seq in records.items():
        nt = encode_nucleotides(seq)
        nt = np.concatenate([nt, np.zeros(-len(nt) % 6, dtype=np.uint8)])
        tokens = torch.from_numpy(tokenizer.encode_nucleotides(nt)).long()[None]
        with torch.no_grad():
            logits = net(tokens)
            if rc:
                logits = (logits + net(tokenizer.reverse_complement(tokens)).flip(1)) / 2
        ref = logits.softmax(-1)[0, :, 1].repeat_interleave(3).numpy()[: len(seq)]
        assert np.abs(got[name] - ref).max() < 1e-6, name


def test_pad_short_runs_short_contigs_padded_to_the_window(tmp_path):
    """--pad-short: a contig shorter than the window is one window padded with PAD, as in training with
    short_contigs=pad (a transformer's outputs then differ from those at the contig's own length)."""
    records = {"short": random_sequence(100, 11)}
    net = tiny_transformer().double()
    fasta = write_fasta(tmp_path / "g.fa", records)
    padded = torch.zeros(1, 256, dtype=torch.long)  # PAD = 0
    padded[0, :100] = torch.from_numpy(encode_nucleotides(records["short"])).long()
    with torch.no_grad():
        expected = net(padded).double().softmax(-1)[0, :100, 1].numpy()
    for pad_short in (True, False):
        options = PredictOptions(batch_size=2, decimals=8, bed=False, pad_short=pad_short, **QUIET,
                                 **BEDGRAPH)
        predict_files(net, info_for(net), [fasta], tmp_path / f"out{pad_short}", options)
        got = read_bedgraph(tmp_path / f"out{pad_short}" / "g.bedGraph", {"short": 100})["short"]
        own_length = single_pass(net, records["short"])
        if pad_short:
            assert np.abs(got - expected).max() < 1e-6
        else:
            assert np.abs(got - own_length).max() < 1e-6
    assert np.abs(expected - own_length).max() > 1e-4  # the choice matters for this model


def test_pad_short_follows_training_unless_overridden():
    from genoattn.inference.geometry import resolve_geometry
    from genoattn.inference.model import info_from_record

    net = tiny_transformer()
    for recorded, option, expected in [("pad", None, True), ("skip", None, False), (None, None, False),
                                       ("pad", False, False), ("skip", True, True)]:
        record = {"task": "token_classification", "num_classes": 2, "data": {"window": 256, "short_contigs": recorded}}
        info = info_from_record(net, record)
        assert info.pad_short == (recorded == "pad")
        assert resolve_geometry(info, PredictOptions(pad_short=option, **QUIET)).pad_short is expected
