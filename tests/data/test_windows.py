import warnings

import numpy as np
import pytest

from genoattn.data import vocab
from genoattn.data.windows import (
    NContent,
    Windows,
    filter_n,
    jitter_windows,
    n_runs,
    random_windows,
    split_contigs,
    tile_windows,
)
from genoattn.errors import ConfigError, InputError

LENGTHS = {"a": 10, "b": 25, "c": 3, "d": 40}


def as_tuples(w: Windows) -> list[tuple[str, int, int]]:
    return [w[i] for i in range(len(w))]


def test_tile_rule_last_window_shifted_back_and_short_contig_skipped():
    with pytest.warns(UserWarning, match=r"skipped 1 contig\(s\) shorter than the window \(10 bp\): c"):
        w = tile_windows(LENGTHS, 10)
    assert as_tuples(w) == [("a", 0, 10), ("b", 0, 10), ("b", 10, 20), ("b", 15, 25),
                            ("d", 0, 10), ("d", 10, 20), ("d", 20, 30), ("d", 30, 40)]
    assert w.contig_names == ("a", "b", "c", "d") and w.contig_index.dtype == np.int32


def test_tile_with_stride_covers_every_base_inside_contigs():
    w = tile_windows({"b": 25, "d": 40}, 10, 7)
    assert as_tuples(w)[:4] == [("b", 0, 10), ("b", 7, 17), ("b", 14, 24), ("b", 15, 25)]
    for name, length in (("b", 25), ("d", 40)):
        covered = np.zeros(length, bool)
        for c, s, e in as_tuples(w):
            if c == name:
                assert 0 <= s < e <= length
                covered[s:e] = True
        assert covered.all()


def test_tile_pad_mode_and_contig_selection():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = tile_windows(LENGTHS, 10, contigs=["c", "a"], short_contigs="pad")
    assert as_tuples(w) == [("c", 0, 10), ("a", 0, 10)]
    with pytest.raises(InputError, match="'zz' is not in the genome"):
        tile_windows(LENGTHS, 10, contigs=["zz"])


def test_window_longer_than_every_contig_is_an_input_error():
    for mode in ("skip", "pad"):
        with pytest.raises(InputError, match="window 41 is longer than every contig \\(longest: d, 40 bp\\)"):
            tile_windows(LENGTHS, 41, short_contigs=mode)


@pytest.mark.parametrize("kwargs, arg", [({"window": 0}, "window"), ({"window": 5, "stride": 0}, "stride"),
                                         ({"window": 5, "short_contigs": "trim"}, "short_contigs")])
def test_bad_tiling_arguments(kwargs, arg):
    with pytest.raises(ConfigError, match=f"^{arg}:"):
        tile_windows(LENGTHS, **kwargs)


def test_jitter_stays_inside_and_is_seeded():
    base = tile_windows({"b": 25, "d": 40}, 10, 5)
    j1 = jitter_windows(base, {"b": 25, "d": 40}, 6, np.random.default_rng(3))
    j2 = jitter_windows(base, {"b": 25, "d": 40}, 6, np.random.default_rng(3))
    np.testing.assert_array_equal(j1.start, j2.start)
    assert not np.array_equal(j1.start, base.start)
    limit = np.where(base.contig_index == 0, 25, 40) - 10
    assert (j1.start >= 0).all() and (j1.start <= limit).all()
    assert (np.abs(j1.start - base.start) <= 6).all()


def make_ids(lengths: dict[str, int], n_spans: dict[str, list[tuple[int, int]]], seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for c, n in lengths.items():
        ids = rng.integers(vocab.A, vocab.T + 1, size=n).astype(np.uint8)
        for s, e in n_spans.get(c, []):
            ids[s:e] = vocab.N
        out[c] = ids
    return out


def test_n_runs_and_counts_match_brute_force():
    rng = np.random.default_rng(0)
    ids = rng.integers(vocab.A, vocab.N + 1, size=500).astype(np.uint8)  # N about 1 in 5, many runs
    ids[:7] = vocab.N
    ids[-3:] = vocab.N
    s, e = n_runs(ids)
    assert s[0] == 0 and e[-1] == 500 and ((e - s) > 0).all()
    nc = NContent.from_ids({"x": ids})
    starts = rng.integers(0, 500, size=200)
    ends = np.minimum(starts + rng.integers(0, 120, size=200), 500)
    brute = np.array([(ids[a:b] == vocab.N).sum() for a, b in zip(starts, ends)])
    np.testing.assert_array_equal(nc.count("x", starts, ends), brute)
    assert NContent.from_ids({"y": np.full(5, vocab.A, np.uint8)}).count("y", np.array([0]), np.array([5]))[0] == 0


def test_filter_n_and_random_windows_respect_max_n_fraction():
    lengths = {"a": 100, "b": 60}
    ids = make_ids(lengths, {"a": [(20, 40)], "b": [(0, 60)]})
    nc = NContent.from_ids(ids)
    tiles = tile_windows(lengths, 20, 10)
    kept = filter_n(tiles, nc, 0.25)
    for c, s, e in as_tuples(kept):
        assert (ids[c][s:e] == vocab.N).mean() <= 0.25
    assert "b" not in kept.contigs() and len(kept) == 6
    assert len(filter_n(tiles, nc, 1.0)) == len(tiles)
    with pytest.raises(ConfigError, match="max_n_fraction"):
        filter_n(tiles, nc, 1.5)

    r1 = random_windows(kept, lengths, 50, 15, np.random.default_rng(1), n_content=nc, max_n_fraction=0.25)
    r2 = random_windows(kept, lengths, 50, 15, np.random.default_rng(1), n_content=nc, max_n_fraction=0.25)
    np.testing.assert_array_equal(r1.start, r2.start)
    assert len(r1) == 50 and r1.contigs() == {"a"}
    assert len(np.unique(r1.start)) > len(kept)  # jitter gives starts beyond the tiling grid
    for c, s, e in as_tuples(r1):
        assert 0 <= s and e <= lengths[c] and (ids[c][s:e] == vocab.N).mean() <= 0.25


def test_split_holdout_every_follows_the_baseline_rule():
    names = [f"ctg{i:02d}" for i in range(12)][::-1]  # file order differs from name order
    split = split_contigs(names, holdout_every=5, val_fraction=0.2, seed=0)
    assert split["test"] == ["ctg10", "ctg05", "ctg00"]  # sorted index 0, 5, 10; kept in file order
    assert len(split["val"]) == 2
    assert set(split["train"]) | set(split["val"]) | set(split["test"]) == set(names)


def test_split_fractions_are_seeded_and_disjoint():
    names = [f"c{i}" for i in range(20)]
    a = split_contigs(names, val_fraction=0.1, test_fraction=0.2, seed=1)
    assert a == split_contigs(names, val_fraction=0.1, test_fraction=0.2, seed=1)
    assert a != split_contigs(names, val_fraction=0.1, test_fraction=0.2, seed=2)
    assert (len(a["train"]), len(a["val"]), len(a["test"])) == (14, 2, 4)
    assert not (set(a["train"]) & set(a["test"])) and not (set(a["val"]) & set(a["test"]))
    assert split_contigs(["x", "y"], val_fraction=0.0, test_fraction=0.0)["train"] == ["x", "y"]
    assert split_contigs(["x", "y", "z"], val_fraction=0.01, test_fraction=0.01)["val"]  # at least one


def test_split_by_names_and_errors():
    names = ["a", "b", "c", "d"]
    s = split_contigs(names, test_contigs=["d"], val_contigs=["b"])
    assert s == {"train": ["a", "c"], "val": ["b"], "test": ["d"]}
    with pytest.raises(ConfigError, match="^test_contigs: contig\\(s\\) not in the genome: zz"):
        split_contigs(names, test_contigs=["zz"])
    with pytest.raises(ConfigError, match="^holdout_every:"):
        split_contigs(names, test_contigs=["a"], holdout_every=5)
    with pytest.raises(ConfigError, match="^holdout_every:"):
        split_contigs(names, holdout_every=1)
    with pytest.raises(ConfigError, match="^val_contigs:.*also in the test split"):
        split_contigs(names, test_contigs=["a"], val_contigs=["a"])
    with pytest.raises(ConfigError, match="no contig is left for training"):
        split_contigs(["a", "b"], val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ConfigError, match="^val_fraction"):
        split_contigs(names, val_fraction=1.0)


def test_no_test_window_overlaps_training_sequence():
    rng = np.random.default_rng(5)
    lengths = {f"s{i}": int(n) for i, n in enumerate(rng.integers(50, 400, size=30))}
    split = split_contigs(list(lengths), holdout_every=5, val_fraction=0.1, seed=0)
    wins = {k: tile_windows(lengths, 40, 13, contigs=v) for k, v in split.items()}
    train_cover = {c: np.zeros(n, bool) for c, n in lengths.items()}
    for c, s, e in as_tuples(wins["train"]):
        train_cover[c][s:e] = True
    for part in ("val", "test"):
        assert wins[part].contigs() == set(split[part])
        for c, s, e in as_tuples(wins[part]):
            assert not train_cover[c][s:e].any()
    assert not wins["val"].contigs() & wins["test"].contigs()


@pytest.mark.parametrize("window,context", [(10, 0), (10, 2), (16, 5), (9, 4), (100, 30)])
def test_central_keep_scores_every_base_once(window, context):
    from genoattn.data.windows import central_keep

    lengths = {f"c{n}": n for n in (1, 5, window - 1, window, window + 1, 2 * window - 3, 3 * window + 7, 257)}
    tiles = tile_windows(lengths, window, window - 2 * context, short_contigs="pad")
    contig_length = np.array([lengths[tiles.contig_names[i]] for i in tiles.contig_index])
    keep_start, keep_end = central_keep(tiles.start, contig_length, window, context)
    for name, n in lengths.items():
        rows = [i for i in range(len(tiles)) if tiles.contig_names[tiles.contig_index[i]] == name]
        covered = np.zeros(max(n, window), dtype=int)
        for i in rows:
            s = int(tiles.start[i])
            covered[s + keep_start[i] : s + keep_end[i]] += 1
            # a kept base has `context` bases on each side inside the window, unless the contig ends first
            assert keep_start[i] >= min(context, s) and keep_end[i] <= window
        assert (covered[:n] == 1).all(), (name, covered[:n])


def test_central_keep_rejects_too_much_context():
    from genoattn.data.windows import central_keep

    with pytest.raises(ConfigError, match="eval_context"):
        central_keep(np.zeros(1), np.array([10]), 10, 5)
