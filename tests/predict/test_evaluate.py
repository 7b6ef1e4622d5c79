"""inference.evaluate: bedGraph read back, metrics per contig and overall, N and ignored bases left out."""

from __future__ import annotations

import math

import numpy as np

from genoattn.data.annotations import Interval
from genoattn.data.labels import IntervalIndex
from genoattn.inference.evaluate import binary_metrics, called_intervals, read_bedgraph, track_metrics


def test_read_bedgraph_leaves_gaps_nan(tmp_path):
    path = tmp_path / "p.bedGraph"
    path.write_text("track type=bedGraph\na\t0\t2\t0.25\na\t3\t4\t1\nz\t0\t1\t0.5\n")
    tracks = read_bedgraph(path, {"a": 5})
    np.testing.assert_array_equal(tracks["a"], np.array([0.25, 0.25, np.nan, 1.0, np.nan], dtype=np.float32))
    assert list(tracks) == ["a"]


def test_metrics_per_contig_and_overall():
    index = IntervalIndex([Interval("a", 2, 6, "+"), Interval("b", 0, 10, "-")])
    tracks = {
        "a": np.array([0.1, 0.2, 0.9, 0.8, np.nan, 0.7, 0.3, 0.0], dtype=np.float32),  # perfect where scored
        "b": np.full(10, 0.25, dtype=np.float32),  # all coding: one class, no AUROC of its own
    }
    overall, per_contig = track_metrics(tracks, index)
    a, b = per_contig
    assert a["contig"] == "a" and a["auroc"] == 1.0 and a["bases"] == 7 and a["length"] == 8
    assert b["bases"] == 10 and math.isnan(b["auroc"]) and b["positive_fraction"] == 1.0
    assert overall["contigs"] == 2 and overall["bases"] == 17
    assert overall["positive_fraction"] == 13 / 17 and 0.5 < overall["auroc"] < 1.0


def test_binary_metrics_of_nothing():
    assert binary_metrics(np.zeros(0), np.zeros(0))["bases"] == 0


def test_called_intervals_as_the_bed_writer_calls_them():
    values = np.array([0.9, 0.8, 0.1, np.nan, 0.7, 0.6, 0.2, 0.95], dtype=np.float32)
    assert called_intervals(values, start=100) == [(100, 102), (104, 106), (107, 108)]
    assert called_intervals(values, start=100, merge_gap=1, min_length=2) == [(100, 102), (104, 108)]
