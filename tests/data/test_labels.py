import gzip

import numpy as np
import pytest
import torch

from genoattn.data import vocab
from genoattn.data.annotations import Interval
from genoattn.data.augment import reverse_complement_rows, shift_starts
from genoattn.data.labels import (
    IntervalIndex,
    contig_labels,
    mask_tokens,
    nucleotide_labels,
    read_scores,
    reverse_complement_labels,
    window_overlap_labels,
    window_scores,
)
from genoattn.data.tokenizers import KmerTokenizer, NucleotideTokenizer
from genoattn.errors import ConfigError, InputError

IGN = vocab.IGNORE_INDEX


def cds(start, end, strand, phase=0, contig="x"):
    return Interval(contig, start, end, strand=strand, feature="CDS", phase=phase)


def oracle(intervals, length, mode):
    """Per-position loop: the set of classes each base gets; several -> IGNORE."""
    classes = [set() for _ in range(length)]
    for iv in intervals:
        for x in range(iv.start, iv.end):
            if mode == "binary":
                classes[x].add(1)
            elif iv.strand == ".":
                classes[x].add(IGN)
            elif mode == "strand":
                classes[x].add(1 if iv.strand == "+" else 2)
            elif iv.strand == "+":  # codon position counted from the first whole codon at start + phase
                classes[x].add((x - iv.start - (iv.phase or 0)) % 3 + 1)
            else:  # minus strand: reading from end - 1 downwards
                classes[x].add((iv.end - 1 - (iv.phase or 0) - x) % 3 + 4)
    return np.array([0 if not c else (c.pop() if len(c) == 1 else IGN) for c in classes], dtype=np.int8)


def random_intervals(rng, length, n, contig="x"):
    out = []
    for _ in range(n):
        s = int(rng.integers(0, length - 1))
        e = int(min(length, s + rng.integers(1, 60)))
        strand = str(rng.choice(["+", "-", "+", "-", "."]))
        out.append(Interval(contig, s, e, strand=strand, phase=int(rng.integers(0, 3))))
    return out


def test_frame_labels_by_hand():
    ivs = [cds(3, 12, "+"), cds(14, 20, "+", phase=1), cds(21, 30, "-")]
    lab = nucleotide_labels(IntervalIndex(ivs), "x", 0, 30, "frame")
    assert lab.dtype == np.int8
    assert lab[:3].tolist() == [0, 0, 0]
    assert lab[3:12].tolist() == [1, 2, 3] * 3
    assert lab[14:17].tolist() == [3, 1, 2]  # phase 1: the first base ends the previous codon
    assert lab[27:30].tolist() == [6, 5, 4]  # minus strand read from position 29 down
    minus_phase2 = nucleotide_labels(IntervalIndex([cds(21, 27, "-", phase=2)]), "x", 21, 27, "frame")
    assert minus_phase2.tolist() == [4, 6, 5, 4, 6, 5]


def test_binary_and_strand_by_hand_with_conflicts():
    ivs = [cds(2, 6, "+"), cds(4, 8, "-"), Interval("x", 10, 12, strand="."), cds(0, 3, "+", contig="other")]
    index = IntervalIndex(ivs)
    assert nucleotide_labels(index, "x", 0, 13, "binary").tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0]
    assert nucleotide_labels(index, "x", 0, 13, "strand").tolist() == [0, 0, 1, 1, IGN, IGN, 2, 2, 0, 0, IGN, IGN, 0]
    assert nucleotide_labels(index, "missing", 0, 4, "strand").tolist() == [0, 0, 0, 0]
    with pytest.raises(ConfigError, match="label_mode"):
        nucleotide_labels(index, "x", 0, 4, "exon")


@pytest.mark.parametrize("mode", ["binary", "strand", "frame"])
def test_labels_match_per_position_oracle_and_regions(mode):
    rng = np.random.default_rng(7)
    length = 400
    ivs = random_intervals(rng, length, 25)
    index = IntervalIndex(ivs)
    whole = contig_labels(index, {"x": length}, mode)["x"]
    np.testing.assert_array_equal(whole, oracle(ivs, length, mode))
    for start in (0, 17, 123, 390):  # a region gives the same labels as the slice of the whole contig
        np.testing.assert_array_equal(nucleotide_labels(index, "x", start, start + 10, mode), whole[start:start + 10])


@pytest.mark.parametrize("mode", ["binary", "strand", "frame"])
def test_reverse_complement_labels_equal_labels_of_reversed_annotation(mode):
    rng = np.random.default_rng(11)
    length = 300
    ivs = random_intervals(rng, length, 20)
    flipped = [Interval("x", length - iv.end, length - iv.start, strand={"+": "-", "-": "+", ".": "."}[iv.strand],
                        phase=iv.phase) for iv in ivs]
    forward = nucleotide_labels(IntervalIndex(ivs), "x", 0, length, mode)
    reverse = nucleotide_labels(IntervalIndex(flipped), "x", 0, length, mode)
    np.testing.assert_array_equal(reverse_complement_labels(forward, mode), reverse)
    t = torch.from_numpy(forward.astype(np.int64))[None]
    assert torch.equal(reverse_complement_labels(t, mode)[0], torch.from_numpy(reverse.astype(np.int64)))


def test_reverse_complement_rows_keep_sequence_and_labels_aligned():
    tok = NucleotideTokenizer()
    nt = np.stack([tok.encode("AACGTT"), tok.encode("ACCGGN")])
    lab = np.array([[0, 1, 2, 3, 4, 5], [6, 0, 1, IGN, 2, 3]], dtype=np.int8)
    nt2, lab2 = reverse_complement_rows(nt, lab, np.array([False, True]), "frame")
    assert tok.decode(nt2[0]) == "AACGTT" and tok.decode(nt2[1]) == "NCCGGT"
    assert lab2.tolist() == [[0, 1, 2, 3, 4, 5], [6, 5, IGN, 4, 0, 3]]
    assert nt.tolist()[1] == tok.encode("ACCGGN").tolist()  # inputs are not modified


def test_shift_starts_stays_inside():
    rng = np.random.default_rng(0)
    starts = np.array([0, 50, 90, 0])
    lens = np.array([100, 100, 100, 5])  # the last is a padded short contig: it stays at 0
    for _ in range(20):
        moved = shift_starts(starts, lens, 10, 8, rng)
        assert (moved >= 0).all() and (moved + 10 <= np.maximum(lens, 10)).all() and moved[3] == 0
        assert (np.abs(moved - starts) <= 8).all()
    assert shift_starts(starts, lens, 10, 0, rng) is starts


def test_window_overlap_labels():
    index = IntervalIndex([Interval("x", 10, 14), Interval("x", 100, 300), Interval("x", 400, 420)])
    starts = np.array([0, 8, 12, 150, 280, 390, 405])
    # window 20: [0,20) holds 10-14 whole; [8,28) too; [12,32) holds half of it; [150,170) inside 100-300;
    # [280,300) covered; [390,410) overlaps 400-420 by 10 of 20; [405,425) by 15 of 20
    assert window_overlap_labels(index, "x", starts, 20, 0.5).tolist() == [1, 1, 1, 1, 1, 1, 1]
    assert window_overlap_labels(index, "x", starts, 20, 0.75).tolist() == [1, 1, 0, 1, 1, 0, 1]
    assert window_overlap_labels(index, "x", np.array([30]), 20).tolist() == [0]
    assert window_overlap_labels(index, "y", np.array([0]), 20).tolist() == [0]
    with pytest.raises(ConfigError, match="min_overlap"):
        window_overlap_labels(index, "x", starts, 20, 0.0)


def test_window_scores_weighted_mean_and_default():
    index = IntervalIndex([Interval("x", 0, 10, score=1.0), Interval("x", 10, 20, score=3.0)])
    out = window_scores(index, "x", np.array([0, 5, 15, 40]), 10, default=-1.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [1.0, 2.0, 3.0, -1.0])
    with pytest.raises(InputError, match="score"):
        window_scores(IntervalIndex([Interval("x", 0, 10)]), "x", np.array([0]), 10)


def test_read_scores_bed_tsv_and_errors(tmp_path):
    bed = tmp_path / "a.bed.gz"
    with gzip.open(bed, "wt") as fh:
        fh.write("track name=x\n#comment\nchr1\t0\t10\tr1\t2.5\t+\nchr1\t10\t30\tr2\t-1\t-\n")
    ivs = read_scores(bed)
    assert [(iv.contig, iv.start, iv.end, iv.score) for iv in ivs] == [("chr1", 0, 10, 2.5), ("chr1", 10, 30, -1.0)]
    tsv = tmp_path / "s.tsv"
    tsv.write_text("contig\tstart\tend\tsignal\r\nc\t5\t9\t0.25\r\n")
    assert read_scores(tsv, "signal")[0].score == 0.25
    assert read_scores(tsv, 3)[0].score == 0.25  # unnamed use of a file with a header line
    with pytest.raises(InputError, match="s.tsv:1: score column 'other' not in header"):
        read_scores(tsv, "other")
    bad = tmp_path / "bad.bed"
    bad.write_text("c\t0\t5\tn\t1\nc\t7\tX\tn\t2\n")
    with pytest.raises(InputError, match="bad.bed:2: expected integer start/end"):
        read_scores(bad)
    short = tmp_path / "short.bed"
    short.write_text("c\t0\t5\n")
    with pytest.raises(InputError, match="short.bed:1: expected at least 5"):
        read_scores(short)
    backwards = tmp_path / "back.bed"
    backwards.write_text("c\t9\t5\tn\t1\n")
    with pytest.raises(InputError, match="back.bed:1: bad interval"):
        read_scores(backwards)


def test_mask_tokens_rates_specials_and_labels():
    tok = NucleotideTokenizer()
    rng = np.random.default_rng(0)
    ids = rng.integers(vocab.A, vocab.N + 1, size=(64, 1024))
    ids[:, 0], ids[:, -1], ids[:, 500:510] = vocab.CLS, vocab.SEP, vocab.PAD
    inputs, labels = mask_tokens(ids, np.random.default_rng(1), tok)
    assert inputs.dtype == np.int64 and labels.dtype == np.int64
    special = ids <= vocab.MASK
    chosen = labels != IGN
    assert not (chosen & special).any()
    np.testing.assert_array_equal(labels[chosen], ids[chosen])
    np.testing.assert_array_equal(inputs[~chosen], ids[~chosen])
    assert abs(chosen.sum() / (~special).sum() - 0.15) < 0.01
    masked = (inputs == vocab.MASK) & chosen
    same = (inputs == ids) & chosen
    randomised = chosen & ~masked & ~same
    n = chosen.sum()
    assert abs(masked.sum() / n - 0.8) < 0.02
    # random replacements are A..T; 1/4 of them land on the original base, so "unchanged" is ~10% + 2.5%
    assert abs(same.sum() / n - 0.125) < 0.02 and abs(randomised.sum() / n - 0.075) < 0.02
    assert set(np.unique(inputs[randomised])) <= {vocab.A, vocab.C, vocab.G, vocab.T}
    inputs2, labels2 = mask_tokens(ids, np.random.default_rng(1), tok)
    np.testing.assert_array_equal(inputs, inputs2)
    kmer = KmerTokenizer(2)
    k_in, _ = mask_tokens(np.full((4, 300), 10), np.random.default_rng(2), kmer)
    replaced = (k_in != 10) & (k_in != vocab.MASK)
    assert replaced.any() and (k_in[replaced] >= kmer.FIRST_KMER).all() and (k_in[replaced] < kmer.vocab_size).all()
    with pytest.raises(ConfigError, match="mlm_probability"):
        mask_tokens(ids, rng, tok, 1.0)


def test_mask_tokens_labels_from_uint8_ids_keep_ignore_index():
    """The datasets hand over uint8 ids: IGNORE_INDEX (-100) must not wrap to 156 in the labels."""
    ids = np.random.default_rng(0).integers(vocab.A, vocab.T + 1, size=(4, 256)).astype(np.uint8)
    _, labels = mask_tokens(ids, np.random.default_rng(1), NucleotideTokenizer())
    assert set(np.unique(labels)) <= {IGN, vocab.A, vocab.C, vocab.G, vocab.T}
    assert (labels == IGN).mean() > 0.8
