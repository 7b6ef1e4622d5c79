"""attention_runs: benchmark runs found by globbing, ordered by date / commit / folder name, GPU named from files."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from genoattn.bench.attention_runs import (
    RESULTS_DIR,
    discover_runs,
    folder_rank,
    load_results,
    newest_per_pattern_backend,
    ratio_to_best_dense,
)
from genoattn.errors import InputError

COLUMNS = ["pattern", "backend", "length", "mode", "status", "ms", "ms_sync", "peak_gib", "useful_tflops"]


def write_run(folder, rows, meta=None, sync_column=True, mtime=1_000_000.0):
    folder.mkdir(parents=True)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if not sync_column:
        frame = frame.drop(columns="ms_sync")
    frame.to_csv(folder / "results.csv", index=False)
    if meta is not None:
        (folder / "results.json").write_text(json.dumps({"meta": meta, "rows": []}))
    os.utime(folder / "results.csv", (mtime, mtime))


def row(pattern, backend, ms, tflops, length=1024, mode="fwd", status="ok"):
    return [pattern, backend, length, mode, status, ms, ms, 0.1, tflops]


def test_runs_ordered_by_recorded_date_then_folder_name(tmp_path):
    write_run(tmp_path / "a", [row("full", "sdpa", 2.0, 100)], {"device": "GPU A", "utc": "2026-01-02T00:00:00+00:00"})
    write_run(tmp_path / "b", [row("full", "sdpa", 2.0, 100)], {"device": "GPU A", "utc": "2026-01-01T00:00:00+00:00"})
    for name in ("s/last", "s/run10", "s/run2", "s/earlier/run1"):  # no date: same file time, names decide
        write_run(tmp_path / name, [row("full", "sdpa", 1.0, 90)], mtime=1_800_000_000.0)
    runs = discover_runs(tmp_path)
    assert runs.run.tolist() == ["b", "a", "s/earlier/run1", "s/run2", "s/run10", "s/last"]
    assert runs.time_source.tolist() == ["results.json"] * 2 + ["file time"] * 4
    assert runs["rank"].tolist() == list(range(6))


def test_device_from_nearest_json_or_gpu_listing(tmp_path):
    write_run(tmp_path / "x", [row("full", "sdpa", 1, 1)], {"device": "NVIDIA H100 80GB HBM3"})
    write_run(tmp_path / "x" / "sub", [row("full", "sdpa", 1, 1)])
    write_run(tmp_path / "y" / "sub", [row("full", "sdpa", 1, 1)])
    (tmp_path / "y" / "gpus.txt").write_text("GPU 0: NVIDIA H200 (UUID: GPU-123)\n")
    write_run(tmp_path / "z", [row("full", "sdpa", 1, 1)])
    devices = dict(zip(*discover_runs(tmp_path)[["run", "device"]].T.values))
    assert devices == {"x": "NVIDIA H100 80GB HBM3", "x/sub": "NVIDIA H100 80GB HBM3", "y/sub": "NVIDIA H200",
                       "z": "unknown"}


def test_newest_run_per_pattern_backend_and_ratio_to_best_dense(tmp_path):
    meta = {"device": "G"}
    write_run(tmp_path / "old", [row("full", "sdpa", 2.0, 100), row("full", "flex", 2.0, 120),
                                 row("sliding_window", "flex", 1.0, 30), row("bigbird", "flex", 1.0, 20)],
              {**meta, "utc": "2026-01-01T00:00:00Z"}, sync_column=False)
    write_run(tmp_path / "new", [row("full", "sdpa", 2.0, 110), row("sliding_window", "flex", 1.0, 60),
                                 row("bigbird", "flex", 9.0, 0, status="oom"),
                                 row("sliding_window", "flex", 5.0, 55, length=4096)],
              {**meta, "utc": "2026-02-01T00:00:00Z"})
    results = load_results(tmp_path)
    assert set(results.timing) == {"queued", "synchronised"}
    newest = newest_per_pattern_backend(results).set_index(["pattern", "backend", "length"])
    assert newest.loc[("sliding_window", "flex", 1024), "run"] == "new"
    assert newest.loc[("bigbird", "flex", 1024), "run"] == "old"  # the newer run's cell failed
    assert newest.loc[("full", "flex", 1024), "run"] == "old"
    ratios = ratio_to_best_dense(newest.reset_index()).set_index(["pattern", "backend", "length"])
    assert ratios.loc[("sliding_window", "flex", 1024), "ratio_best_dense"] == pytest.approx(60 / 120)
    assert ratios.loc[("sliding_window", "flex", 1024), "best_dense"] == "flex at L=1,024"
    assert ratios.loc[("sliding_window", "flex", 1024), "best_dense_run"] == "old"
    assert ratios.loc[("sliding_window", "flex", 4096), "ratio_best_dense"] == pytest.approx(55 / 120)  # shorter L


def test_folder_rank():
    from pathlib import Path

    names = ["final", "run3_fused", "earlier/run4", "other", "run12"]
    assert sorted(names, key=lambda n: folder_rank(Path(n))) == ["earlier/run4", "run3_fused", "run12", "other",
                                                                  "final"]


def test_committed_results_are_found():
    runs = discover_runs(RESULTS_DIR)
    assert len(runs) >= 1 and set(runs.device) == {"NVIDIA H200"}
    newest = newest_per_pattern_backend(load_results(RESULTS_DIR))
    pick = newest[(newest.pattern == "sliding_window") & (newest.backend == "triton_band")]
    assert set(pick.run) == {"h200-d64"}


def test_missing_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no attention benchmark results folder"):
        discover_runs(tmp_path / "nope")
    with pytest.raises(InputError, match="no results.csv"):
        discover_runs(tmp_path)
