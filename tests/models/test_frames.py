"""Reading-frame features: stop-codon distances per frame against a per-codon loop, strand symmetry, the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genoattn.attention.patterns import SlidingWindow
from genoattn.data.tokenizers import NucleotideTokenizer
from genoattn.models import GenomeTransformer
from genoattn.models.frames import (
    codon_stop_distances,
    covering_orf_lengths,
    reading_frame_features,
    stop_codons,
)

TOK = NucleotideTokenizer()


def ids_of(seq: str) -> torch.Tensor:
    return torch.from_numpy(TOK.encode(seq).astype(np.int64))[None]  # [1, L]


def looped(seq: str) -> np.ndarray:
    """[L, 4] distances by scanning codon by codon; NaN where a frame has no stop before the window edge."""
    def scan(s: int, step: int, stops: tuple[str, ...], include_self: bool) -> float:
        j = s if include_self else s + step
        while 0 <= j <= len(seq) - 3:
            if seq[j:j + 3] in stops:
                return abs(j - s) // 3
            j += step
        return np.nan

    plus, minus = ("TAA", "TAG", "TGA"), ("TTA", "CTA", "TCA")
    return np.array([[scan(s, 3, plus, True), scan(s, -3, plus, False), scan(s, -3, minus, True),
                      scan(s, 3, minus, False)] for s in range(len(seq))])


@pytest.mark.parametrize("length", [150, 151, 152, 301])
def test_distances_match_a_codon_by_codon_scan(length):
    rng = np.random.default_rng(length)
    seq = "".join(rng.choice(list("ACGTTA"), length))
    got = codon_stop_distances(ids_of(seq))[0].numpy()  # [L, 4]
    expected = looped(seq)
    known = ~np.isnan(expected)
    assert known.mean() > 0.7
    np.testing.assert_array_equal(got[known], expected[known])
    assert (got[~known] >= 1).all()  # no stop: a distance to the window edge


def test_covering_orf_is_the_longest_stop_to_stop_frame_over_a_nucleotides_three_codons():
    rng = np.random.default_rng(7)
    seq = "".join(rng.choice(list("ACGT"), 400))
    expected = looped(seq)  # [L, 4]
    orf = np.stack([expected[:, 0] + expected[:, 1], expected[:, 2] + expected[:, 3]], axis=-1)  # [L, 2]
    got = covering_orf_lengths(codon_stop_distances(ids_of(seq)))[0].numpy()  # [L, 2]
    for i in range(2, 400):
        for strand in range(2):
            lengths = orf[i - 2:i + 1, strand]
            if not np.isnan(lengths).any():
                assert got[i, strand] == lengths.max()
    features = reading_frame_features(ids_of(seq))[0]
    assert features.shape == (400, 6) and torch.equal(features[:, 4:], torch.log1p(torch.from_numpy(got)) / 7.0)


def test_known_stops_and_unknown_bases():
    plus, minus = stop_codons(ids_of("ATAAGTTANTAGG"))
    assert torch.nonzero(plus[0]).flatten().tolist() == [1, 9]  # TAA at 1, TAG at 9
    assert torch.nonzero(minus[0]).flatten().tolist() == [5]  # TTA at 5 (TAA on the minus strand)
    assert not stop_codons(ids_of("TNA"))[0].any()


def test_reverse_complement_swaps_the_strands():
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACGT"), 300))
    rc = seq[::-1].translate(str.maketrans("ACGT", "TGCA"))
    forward, backward = codon_stop_distances(ids_of(seq))[0], codon_stop_distances(ids_of(rc))[0]  # [L, 4]
    expected = looped(seq)
    s = np.flatnonzero(~np.isnan(expected).any(axis=1))
    s = s[s <= len(seq) - 3]
    # the codon at s is the codon at L - 3 - s of the reverse complement, with plus and minus swapped
    torch.testing.assert_close(forward[s], backward[len(seq) - 3 - s][:, [2, 3, 0, 1]])


def test_features_shift_with_the_window():
    rng = np.random.default_rng(2)
    seq = "".join(rng.choice(list("ACGT"), 600))
    whole, part = reading_frame_features(ids_of(seq))[0], reading_frame_features(ids_of(seq[99:]))[0]
    torch.testing.assert_close(whole[250:400], part[151:301])  # away from the edges, same features


def test_model_with_reading_frames_trains_and_keeps_its_config():
    net = GenomeTransformer(d_model=16, num_layers=1, num_heads=2, patch_size=6, stem_kernel_size=12, stem_hidden=32,
                            stem_kmer=3, attention=SlidingWindow(8), reading_frames=True)
    ids = torch.randint(4, 8, (2, 120))
    logits = net(ids)
    assert logits.shape == (2, 120, 2) and net.config["reading_frames"] is True
    logits.sum().backward()
    assert net.encoder.stem.frame_linear.weight.grad.abs().sum() > 0
    assert net.encoder.frame_embedding.weight.grad.abs().sum() > 0
    plain = GenomeTransformer(d_model=16, num_layers=1, num_heads=2, patch_size=6, attention=SlidingWindow(8))
    assert plain.encoder.frame_embedding is None and plain(ids).shape == (2, 120, 2)
