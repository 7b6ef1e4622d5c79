"""The pattern sweep: argument checks, result table and plot (the runs themselves are the configs' own tests)."""

from __future__ import annotations

import pytest

from pipelines import pattern_sweep


def test_unknown_pattern_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        pattern_sweep.main(["--out", str(tmp_path), "--patterns", "no_such_pattern"])
    assert "no_such_pattern" in capsys.readouterr().err


def test_every_pattern_config_is_swept_by_default():
    names = {p.stem for p in pattern_sweep.PATTERN_DIR.glob("*.yaml")}
    assert {"full", "sliding_window", "longformer", "bigbird", "performer", "routing"} <= names


def test_plot_writes_a_png_of_the_finished_runs(tmp_path):
    rows = [
        {"pattern": "full", "status": "ok", "test/auroc": 0.9, "train_tokens_per_s": 1e5},
        {"pattern": "routing", "status": "failed: boom"},
    ]
    pattern_sweep.plot(rows, tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000
