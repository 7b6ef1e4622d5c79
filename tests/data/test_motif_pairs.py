"""The motif-pair task: JASPAR motifs, site sampling, the dinucleotide shuffle, bands, plans and windows."""

from pathlib import Path

import numpy as np
import pytest

from genoattn.data import vocab
from genoattn.data.motif_pairs import (
    DISTANCE_DECOY_KINDS,
    FAR_DECOY,
    KINDS,
    MOTIF_A,
    MOTIF_B,
    NEAR_DECOY,
    OTHER_STRAND,
    POSITIVE,
    SAME_MOTIF,
    MotifPairWindows,
    band_layout,
    distance_bands,
    pair_labels,
    pair_metrics,
    place_sites,
)
from genoattn.data.motifs import dinucleotide_shuffle, pick_motif, read_motifs, scan
from genoattn.data.tokenizers import NucleotideTokenizer
from genoattn.errors import ConfigError, InputError

ROOT = Path(__file__).resolve().parents[2]
JASPAR = ROOT / "data" / "motifs" / "jaspar2024_pairs.jaspar"


@pytest.fixture(scope="module")
def motifs():
    found = read_motifs(JASPAR)
    return pick_motif(found, "MA2100.1"), pick_motif(found, "MA2335.1")


def random_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(vocab.A, vocab.T + 1, size=n).astype(np.uint8)


def make_windows(motifs, window=1024, band=(100, 400), n=240, **kwargs) -> MotifPairWindows:
    background = random_ids(50_000, np.random.default_rng(1))
    layout = band_layout(band, window, (motifs[0].length, motifs[1].length))
    return MotifPairWindows(background, motifs, layout, n, **kwargs)


# ----------------------------------------------------------------------------- motifs


def test_shipped_motifs_are_long_and_informative(motifs):
    found = read_motifs(JASPAR)
    assert sorted(found) == ["MA0138.3", "MA0139.2", "MA2100.1", "MA2335.1"]
    for motif in found.values():
        assert np.allclose(motif.probs.sum(axis=1), 1.0)
    assert [m.length for m in motifs] == [18, 29]
    assert [(m.information() > 1).sum() for m in motifs] == [16, 19]
    assert pick_motif(found, "CTCF").matrix_id == "MA0139.2" and pick_motif(found, "MA0138").name == "REST"
    with pytest.raises(ConfigError, match="'NOPE' not found"):
        pick_motif(found, "NOPE")


def test_unreadable_jaspar_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.jaspar"
    bad.write_text("this is not a motif file\n")
    with pytest.raises(InputError, match="bad.jaspar"):
        read_motifs(bad)


def test_sampled_sites_follow_the_matrix(motifs):
    motif = motifs[1]
    sites = motif.sample(4000, np.random.default_rng(0))  # [n, length]
    assert sites.shape == (4000, motif.length) and sites.dtype == np.uint8
    freq = np.stack([(sites == b).mean(axis=0) for b in range(vocab.A, vocab.T + 1)], axis=1)  # [length, 4]
    assert np.abs(freq - motif.probs).max() < 0.03
    assert len({s.tobytes() for s in sites}) > 3000  # instances differ


def test_scan_scores_planted_sites_far_above_background(motifs):
    rng = np.random.default_rng(0)
    ids = random_ids(5000, rng)
    for motif in motifs:
        site = motif.sample(1, rng)[0]
        ids[1000:1000 + motif.length] = site
        ids[3000:3000 + motif.length] = NucleotideTokenizer().reverse_complement(site)
        scores = scan(ids, motif)  # [2, L - len + 1]
        best = motif.log_odds().max(axis=1).sum()
        assert scores[0, 1000] > 0.5 * best and scores[1, 3000] > 0.5 * best
        assert scores[1, 1000] < 0 and scores[0, 3000] < 0  # the other strand does not match
        background = np.delete(scores, [1000, 3000], axis=1)
        assert background.max() < 0.4 * best


def test_dinucleotide_shuffle_keeps_dinucleotide_counts_exactly():
    rng = np.random.default_rng(0)
    ids = random_ids(20_000, rng)
    ids[::7] = vocab.N  # N is one more letter
    ids[100:400] = vocab.A  # a long run

    def pairs(x):
        return np.bincount(x[:-1].astype(int) * 16 + x[1:], minlength=256)

    out = dinucleotide_shuffle(ids, np.random.default_rng(5))
    assert out.dtype == ids.dtype and out.shape == ids.shape
    assert (pairs(out) == pairs(ids)).all()
    assert out[0] == ids[0] and out[-1] == ids[-1]
    assert (out == ids).mean() < 0.4  # shuffled, not a copy
    assert (dinucleotide_shuffle(ids, np.random.default_rng(5)) == out).all()  # reproducible


# ----------------------------------------------------------------------------- bands and plans


def test_distance_bands_reach_64kb_at_256k_and_512kb_at_1m():
    assert distance_bands(max_nt=4096) == [(100, 400), (400, 1600)]
    at_256k = distance_bands(max_nt=262144)
    assert at_256k[0] == (100, 400) and at_256k[-1] == (25600, 102400)
    assert distance_bands(128, max_nt=1 << 20)[-1] == (131072, 524288)
    for lo, hi in distance_bands(max_nt=1 << 20):
        assert hi == 4 * lo and hi - 1 + 32 <= 1 << 20
    with pytest.raises(ConfigError, match="ratio"):
        distance_bands(max_nt=4096, ratio=1)


def test_band_layout_clips_decoys_to_the_window():
    lay = band_layout((100, 400), 4096, (18, 29))
    assert (lay.near, lay.far) == ((29, 100), (400, 1600))
    last = band_layout((25600, 102400), 262144, (18, 29))
    assert last.far == (102400, 262144 - 29 + 1)
    tight = band_layout((1000, 4000), 4000 + 28, (18, 29))
    assert tight.far is None and tight.near == (250, 1000)
    with pytest.raises(ConfigError, match="overlap"):
        band_layout((20, 80), 4096, (18, 29))
    with pytest.raises(ConfigError, match="does not fit"):
        band_layout((1600, 6400), 4096, (18, 29))


@pytest.mark.parametrize("level", ["sequence", "token"])
def test_plan_shares_labels_and_geometry(level):
    lengths = (18, 29)
    lay = band_layout((100, 400), 2048, lengths)
    placed = place_sites(1200, np.random.default_rng(0), lay, lengths, level)
    counts = np.bincount(placed.kind, minlength=len(KINDS))
    assert counts.tolist() == [600, 100, 100, 200, 200]
    assert (placed.label == (placed.kind == POSITIVE)).all()
    assert (placed.label == pair_labels(placed.site_motif, placed.site_strand, placed.distance, (100, 400))).all()
    assert (placed.distance == placed.site_pos[:, 1] - placed.site_pos[:, 0]).all()
    length = np.asarray(lengths)[placed.site_motif]  # [n, 2]
    assert (placed.site_pos[:, 0] >= 0).all() and (placed.site_pos[:, 1] + length[:, 1] <= 2048).all()
    assert (placed.site_pos[:, 0] + length[:, 0] <= placed.site_pos[:, 1]).all()  # no overlap
    for kind in range(len(KINDS)):
        d = placed.distance[placed.kind == kind]
        lo, hi = lay.range_of(kind)
        assert d.min() >= lo and d.max() < hi
    one_each = placed.site_motif.min(1) != placed.site_motif.max(1)
    same_strand = placed.site_strand[:, 0] == placed.site_strand[:, 1]
    assert (one_each == (placed.kind != SAME_MOTIF)).all()
    assert (same_strand == (placed.kind != OTHER_STRAND)).all()
    same = placed.site_motif[placed.kind == SAME_MOTIF, 0]
    assert np.bincount(same, minlength=2).tolist() == ([100, 100] if level == "sequence" else [0, 200])
    first_is_a = placed.site_motif[one_each, 0] == MOTIF_A  # which one comes first: random
    assert 0.4 < first_is_a.mean() < 0.6
    assert 0.4 < (placed.site_strand[:, 0] == 1).mean() < 0.6


def test_plan_without_far_range_uses_near_decoys_only():
    lay = band_layout((1000, 4000), 4028, (18, 29))
    placed = place_sites(120, np.random.default_rng(0), lay, (18, 29))
    counts = np.bincount(placed.kind, minlength=len(KINDS))
    assert counts[FAR_DECOY] == 0 and counts[NEAR_DECOY] == 20 and counts[POSITIVE] == 60


# ----------------------------------------------------------------------------- windows


@pytest.mark.parametrize("level", ["sequence", "token"])
def test_windows_hold_the_recorded_sites_and_labels(motifs, level):
    windows = make_windows(motifs, level=level)
    batch = windows.batch(np.arange(120))
    ids, labels = batch["input_ids"], batch["labels"]
    assert ids.shape == (120, 1024) and ids.dtype == np.uint8
    assert np.isin(ids, np.arange(vocab.A, vocab.T + 1)).all()
    best = [m.log_odds().max(axis=1).sum() for m in motifs]
    planted = []
    for i in range(120):
        for motif_id, pos, strand in zip(batch["site_motif"][i], batch["site_pos"][i], batch["site_strand"][i]):
            scores = scan(ids[i], motifs[motif_id])  # [2, starts]
            right, wrong = (0, 1) if strand > 0 else (1, 0)
            planted.append(scores[right, pos] / best[motif_id])
            assert scores[right, pos] > scores[wrong, pos]  # the recorded strand
            assert scores[right, pos] > np.percentile(scores, 99.5), (i, motif_id)  # far above the background
    assert np.median(planted) > 0.7
    rule = pair_labels(batch["site_motif"], batch["site_strand"], batch["distance"], (100, 400))
    if level == "sequence":
        assert labels.shape == (120,) and (labels == rule).all() and (labels == (batch["kind"] == 0)).all()
        return
    assert labels.shape == (120, 1024)
    for i in range(120):
        expected = np.full(1024, vocab.IGNORE_INDEX)
        for motif_id, pos in zip(batch["site_motif"][i], batch["site_pos"][i]):
            if motif_id == MOTIF_B:
                expected[pos:pos + motifs[MOTIF_B].length] = rule[i]
        assert (labels[i] == expected).all()
        assert (labels[i] != vocab.IGNORE_INDEX).any()  # every window has a B site


def test_windows_are_reproducible_and_fresh_per_training_epoch(motifs):
    train = make_windows(motifs, n=24, seed=3)
    whole = train.batch(np.arange(8), epoch=1)
    parts = [train.batch(np.arange(s, s + 4), epoch=1) for s in (0, 4)]
    for key, value in whole.items():
        assert (value == np.concatenate([p[key] for p in parts])).all(), key  # batching does not matter
        assert (value == make_windows(motifs, n=24, seed=3).batch(np.arange(8), epoch=1)[key]).all()
    assert not (train.batch(np.arange(8), epoch=2)["input_ids"] == whole["input_ids"]).all()
    assert not (make_windows(motifs, n=24, seed=4).batch(np.arange(8), 1)["input_ids"] == whole["input_ids"]).all()
    test = make_windows(motifs, n=24, seed=3, split_code=2, fixed=True)
    assert (test.batch(np.arange(8), epoch=0)["input_ids"] == test.batch(np.arange(8), epoch=5)["input_ids"]).all()


def test_shuffled_background_keeps_the_sites(motifs):
    genome_bg = make_windows(motifs, n=12).batch(np.arange(12))
    shuffled = make_windows(motifs, n=12, shuffle=True).batch(np.arange(12))
    for key in ("labels", "kind", "distance", "site_pos"):
        assert (genome_bg[key] == shuffled[key]).all()
    assert (genome_bg["input_ids"] != shuffled["input_ids"]).mean() > 0.5


def test_megabase_window_with_clipped_far_decoys(motifs):
    background = random_ids(1_500_000, np.random.default_rng(2))
    layout = band_layout((102400, 409600), 1 << 20, (18, 29))
    windows = MotifPairWindows(background, motifs, layout, 12, level="token")
    assert layout.far == (409600, (1 << 20) - 28)
    batch = windows.batch(np.array([0, 7]))
    assert batch["input_ids"].shape == (2, 1 << 20) and batch["labels"].dtype == np.int8
    placed = windows.placements()
    far = placed.distance[placed.kind == FAR_DECOY]
    assert len(far) and far.min() >= 409600 and (placed.site_pos[:, 1] + 29 <= 1 << 20).all()


def test_pair_metrics_split_by_kind():
    kind = np.array([POSITIVE, POSITIVE, NEAR_DECOY, FAR_DECOY, SAME_MOTIF, OTHER_STRAND])
    labels = (kind == POSITIVE).astype(int)
    scores = np.array([0.9, 0.8, 0.1, 0.2, 0.95, 0.5])
    m = pair_metrics(labels, scores, kind)
    assert m["pair_auroc"] == 1.0 and m["auroc_same_motif"] == 0.0 and m["auroc_other_strand"] == 1.0
    assert m["auroc"] == pytest.approx(6 / 8)
    assert set(DISTANCE_DECOY_KINDS) == {NEAR_DECOY, FAR_DECOY}
