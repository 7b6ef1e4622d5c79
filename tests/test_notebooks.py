"""The analysis notebooks: each runs top to bottom at tiny size (GENOATTN_NOTEBOOK_SIZE=tiny) with every figure
titled, labelled with units and given a legend (genoattn.analysis.figures, checked after the last cell); their
outputs are stripped in git; the compare notebook also runs on synthetic pipeline results."""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = {"patterns", "data", "kernels", "compare", "predictions", "attention_maps"}
CHECK_FIGURES = """\
from genoattn.analysis.figures import open_figure_problems
_problems = open_figure_problems()
assert not _problems, "figures break the conventions:\\n" + "\\n".join(_problems)
"""


def execute(path: Path) -> nbformat.NotebookNode:
    """Run a notebook in a fresh kernel from notebooks/, then the figure check; CellExecutionError on failure."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(CHECK_FIGURES))
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()
    return notebook


def printed(notebook: nbformat.NotebookNode) -> str:
    """Everything the notebook's cells printed to stdout."""
    return "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
                   if o.output_type == "stream" and o.get("name") == "stdout")


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory) -> Path:
    """One work folder for the module: the tiny model trained by the first notebook that needs it is reused."""
    return tmp_path_factory.mktemp("notebooks")


@pytest.fixture
def tiny(monkeypatch, work_dir):
    monkeypatch.setenv("GENOATTN_NOTEBOOK_SIZE", "tiny")
    monkeypatch.setenv("GENOATTN_NOTEBOOK_WORKDIR", str(work_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")  # figures stay open for the final check
    monkeypatch.delenv("GENOATTN_COMPARE_DIR", raising=False)


def test_the_six_notebooks():
    assert {p.stem for p in NOTEBOOKS} == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_stripped_and_size_parameter(path):
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{path.name}: outputs not stripped"
    assert "widgets" not in notebook.metadata
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "notebook_size()" in params[0].source, f"{path.name}: no size parameter cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path, tiny):
    execute(path)


def write_compare_fixture(folder: Path) -> None:
    """Tiny results.csv / cost.csv in the layout pipelines/compare.py commits (two tasks, three patterns)."""
    rows = []
    for pattern, base, ms, gib in (("full", 0.9, 30.0, 8.0), ("sliding_window", 0.8, 5.0, 1.0),
                                   ("bigbird", 0.85, 9.0, 1.5)):
        for lo, hi in ((100, 400), (400, 1600), (1600, 6400)):
            auroc = base - (0.1 if pattern == "sliding_window" and lo > 100 else 0.0) - lo / 1e5
            rows.append({"task": "motif_pairs", "level": "sequence", "pattern": pattern, "window_nt": 8192,
                         "band_lo": lo, "band_hi": hi, "metric_name": "auroc", "metric": auroc + 0.02,
                         "pair_auroc": auroc, "steps": 100, "ms_per_step": ms, "tokens_per_s": 8192 / ms * 1e3,
                         "peak_gib": gib, "mfu": 0.3, "params": 1_000_000, "status": "ok"})
        rows.append({"task": "coding", "level": "token", "pattern": pattern, "window_nt": 8192, "band_lo": None,
                     "band_hi": None, "metric_name": "auroc", "metric": base, "pair_auroc": None, "steps": 100,
                     "ms_per_step": ms, "tokens_per_s": 8192 / ms * 1e3, "peak_gib": gib, "mfu": 0.3,
                     "params": 1_000_000, "status": "ok"})
    rows[-1]["status"] = "failed: out of memory"
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    cost = [{"pattern": p, "window_nt": n, "ms_per_step": ms * n / 8192, "tokens_per_s": 1e6,
             "peak_gib": gib * n / 8192, "mfu": 0.3, "status": "oom" if p == "full" and n > 16384 else "ok"}
            for p, ms, gib in (("full", 30.0, 8.0), ("sliding_window", 5.0, 1.0), ("bigbird", 9.0, 1.5))
            for n in (8192, 16384, 32768)]
    pd.DataFrame(cost).to_csv(folder / "cost.csv", index=False)


def test_compare_notebook_plots_pipeline_results(tiny, monkeypatch, tmp_path):
    write_compare_fixture(tmp_path / "compare")
    monkeypatch.setenv("GENOATTN_COMPARE_DIR", str(tmp_path / "compare"))
    out = printed(execute(NOTEBOOK_DIR / "compare.ipynb"))
    assert "comparison pipeline results" in out and "CPU pattern sweep" not in out
