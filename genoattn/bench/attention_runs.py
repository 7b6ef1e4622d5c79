"""Every committed run of the attention benchmark (``genoattn.bench.attention``), found on disk, newest first.

A run is a folder under ``benchmarks/attention/`` holding a ``results.csv``; nothing lists the folders by hand.
For each run this module reads:
- the GPU: ``meta.device`` of the run's ``results.json``, else of the nearest ``results.json`` above it, else the
  first GPU line of the nearest ``gpus.txt`` (``nvidia-smi -L`` output); "unknown" when none says;
- when it ran: ``meta.utc`` of its ``results.json`` (written since this module exists); older runs carry no
  date, so their git commit time stands in (the commit that added ``results.csv``; the file's modification time
  outside a git checkout), and runs added by one commit are ordered by folder name: ``earlier/`` first, then
  ``runN`` by N, then any other name, ``last``/``final`` last. That is how the committed runs were named; a run
  named otherwise within one commit ties with its siblings (then the path decides);
- the timing convention: CSVs without an ``ms_sync`` column come from runs before the queued-calls convention
  (their ``ms`` had the host wait after every call; ``timing`` says which);
- the head dimension: the ``head_dim`` column; runs before ``--head-dims`` ran one, ``meta.head_dim`` (64 when
  the run does not say).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pandas as pd

from genoattn.errors import InputError

REPO = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO / "benchmarks" / "attention"
DENSE_PATTERN = "full"  # rows of this pattern are dense attention (SDPA, dense flex, ...)
UNKNOWN = "unknown"
DEFAULT_HEAD_DIM = 64  # the benchmark's only head dim before --head-dims


def _json_meta(path: Path) -> dict:
    try:
        return json.loads(path.read_text()).get("meta") or {}
    except (OSError, ValueError, AttributeError):
        return {}


def _gpu_from_listing(path: Path) -> str | None:
    """'NVIDIA H200' from an ``nvidia-smi -L`` line 'GPU 0: NVIDIA H200 (UUID: ...)'."""
    for line in path.read_text(errors="replace").splitlines():
        match = re.match(r"GPU \d+: (.+?)(?: \(UUID.*)?$", line.strip())
        if match:
            return match.group(1)
    return None


def run_device(folder: Path, root: Path) -> str:
    """The GPU a run folder's results came from (see the module docstring), or 'unknown'."""
    for here in [folder, *folder.parents]:
        device = _json_meta(here / "results.json").get("device")
        if device:
            return str(device)
        if (here / "gpus.txt").exists():
            device = _gpu_from_listing(here / "gpus.txt")
            if device:
                return device
        if here == root:
            break
    return UNKNOWN


def folder_rank(relative: Path) -> tuple:
    """Order of run folders added together: earlier/ < runN (by N) < other names < last, final."""
    ranks = []
    for part in relative.parts:
        match = re.match(r"run(\d+)", part)
        if part == "earlier":
            ranks.append((0, 0))
        elif match:
            ranks.append((1, int(match.group(1))))
        elif part in ("last", "final"):
            ranks.append((3, 0))
        else:
            ranks.append((2, 0))
    return tuple(ranks)


def git_added_times(root: Path) -> dict[Path, float]:
    """Unix time of the commit that added each file under ``root`` (empty outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "log", "--no-renames", "--diff-filter=A", "--format=@%ct", "--name-only", "--", "."],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {}
    times: dict[Path, float] = {}
    stamp = 0.0
    for line in out.splitlines():
        if line.startswith("@"):
            stamp = float(line[1:])
        elif line.strip():
            times.setdefault((Path(top) / line.strip()).resolve(), stamp)  # newest add first: keep it
    return times


def discover_runs(root: Path = RESULTS_DIR) -> pd.DataFrame:
    """One row per run folder: run (path under root), device, time (UTC), time_source, rank, csv path.

    Sorted oldest first; ``rank`` is the run's position in that order (0 = oldest)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no attention benchmark results folder")
    added = git_added_times(root)
    records = []
    for csv_path in sorted(root.glob("**/results.csv")):
        folder = csv_path.parent
        meta = _json_meta(folder / "results.json")
        if meta.get("utc"):
            when, source = pd.to_datetime(meta["utc"], utc=True), "results.json"
        elif csv_path.resolve() in added:
            when, source = pd.to_datetime(added[csv_path.resolve()], unit="s", utc=True), "git commit"
        else:
            when, source = pd.to_datetime(csv_path.stat().st_mtime, unit="s", utc=True), "file time"
        relative = folder.relative_to(root)
        records.append({"run": str(relative), "device": run_device(folder, root), "time": when,
                        "time_source": source, "folder_rank": folder_rank(relative), "csv": csv_path})
    if not records:
        raise InputError(f"{root}: no results.csv below it (run python -m genoattn.bench.attention --out {root}/NAME)")
    runs = pd.DataFrame(records).sort_values(["time", "folder_rank", "run"], kind="stable").reset_index(drop=True)
    runs["rank"] = range(len(runs))
    return runs.drop(columns="folder_rank")


def load_results(root: Path = RESULTS_DIR) -> pd.DataFrame:
    """Every row of every run's results.csv, with the run's run, device, time, rank and ``timing`` convention."""
    frames = []
    for run in discover_runs(root).itertuples(index=False):
        frame = pd.read_csv(run.csv)
        frame["timing"] = "queued" if "ms_sync" in frame.columns else "synchronised"
        if "head_dim" not in frame.columns:
            frame["head_dim"] = _json_meta(run.csv.parent / "results.json").get("head_dim", DEFAULT_HEAD_DIM)
        frame = frame.assign(run=run.run, device=run.device, time=run.time, rank=run.rank)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def newest_per_pattern_backend(results: pd.DataFrame) -> pd.DataFrame:
    """The successful rows of the newest run that measured each (device, pattern, backend, head_dim); one run
    per such key."""
    ok = results[results.status == "ok"]
    newest = ok.groupby(["device", "pattern", "backend", "head_dim"])["rank"].transform("max")
    return ok[ok["rank"] == newest].reset_index(drop=True)


def ratio_to_best_dense(rows: pd.DataFrame) -> pd.DataFrame:
    """Add ``best_dense_tflops``, ``best_dense`` (backend and length), ``best_dense_run`` and ``ratio_best_dense``:
    useful TFLOP/s over
    the fastest dense kernel's (pattern 'full', any backend) on the same device, head dim and mode, at the same
    length or,
    where no dense kernel ran (e.g. SDPA is capped at 256k), at the longest shorter length measured. Performer
    counts its own arithmetic, not visible pairs: no ratio."""
    dense = rows[rows.pattern == DENSE_PATTERN]
    best = dense.sort_values("useful_tflops").groupby(["device", "head_dim", "mode", "length"]).tail(1)
    out = rows.copy()
    tflops, names, runs = [], [], []
    for row in out.itertuples(index=False):
        pool = best[(best.device == row.device) & (best.head_dim == row.head_dim) & (best["mode"] == row.mode)
                    & (best.length <= row.length)]
        if pool.empty or row.pattern == "performer":
            tflops.append(float("nan"))
            names.append("")
            runs.append("")
            continue
        ref = pool.loc[pool.length.idxmax()]
        tflops.append(float(ref.useful_tflops))
        names.append(f"{ref.backend} at L={int(ref.length):,}")
        runs.append(ref.run)
    out["best_dense_tflops"] = tflops
    out["best_dense"] = names
    out["best_dense_run"] = runs
    out["ratio_best_dense"] = out.useful_tflops / out.best_dense_tflops
    return out
