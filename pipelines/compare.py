"""Compare attention patterns where they differ: every pattern on every task, same model size and step budget,
scored on held-out data, with each pattern's GPU cost.

    python -m pipelines.compare --config configs/compare/gpu.yaml [--out DIR] [--only-cost | --no-cost]
        [--tasks motif_pairs coding] [--patterns full sliding_window] [--workers N]

The config (see configs/compare/*.yaml) names the shared model (GenomeTransformer arguments: every run has the
same parameters except the attention), the budget (training steps, learning rate), the patterns (attention specs
in tokens) and the tasks: ``kind: motif_pairs`` (the long-range motif-interaction task, one run per distance
band; genoattn.data.motif_datamodule) or ``kind: genome`` (GenomeDataModule: coding vs non-coding, masked LM).
A task may set its own ``steps`` (the same for every pattern on it) instead of the budget's, and ``model`` keys
that only change how its outputs are read, never the parameter count (``pooling``: a window label decided by one
site pools with ``max``). A motif task with ``data.site_labels`` (window level) gives every pattern's network the
same auxiliary per-base site head.

Each run (task x pattern [x band]) is one process (``--run KEY``): it trains, scores the held-out split and
writes OUT/rows/KEY.json, so a failure is a row, not a crash, and a second invocation skips the rows already
written (resume; ``--rerun-failed`` retries failed ones). Up to ``workers`` runs share the device at a time.
The cost of each pattern (ms per training step, tokens/s, peak memory, MFU, longest window that trains) is
measured apart, one pattern at a time in one process (genoattn.bench.model), so that concurrent runs do not
disturb the timings. Writes OUT/results.csv, OUT/results.md, OUT/cost.csv, OUT/provenance.json, the exact config
(OUT/config.yaml) and the plots (genoattn.bench.plot_compare).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
RESULT_FIELDS = ["task", "level", "pattern", "window_nt", "band_lo", "band_hi", "metric_name", "metric",
                 "pair_auroc", "receptive_field_nt", "steps", "train_s", "ms_per_step", "tokens_per_s", "peak_gib",
                 "mfu", "longest_window_nt", "params", "status"]
COST_FIELDS = ["pattern", "window_nt", "batch", "ms_per_step", "tokens_per_s", "peak_gib", "tflops", "mfu",
               "backends", "status"]
TASK_MODEL_KEYS = {"pooling"}  # per-task model keys: none changes the parameter count
ENV = {"GENOATTN_TRITON_BAND_TUNE": "0"}  # fixed tested tiles: no autotuning per new shape in short runs


@dataclass(frozen=True)
class Run:
    """One training run of the grid."""

    task: str
    pattern: str
    band: tuple[int, int] | None = None

    @property
    def key(self) -> str:
        band = f"__{self.band[0]}-{self.band[1]}" if self.band else ""
        return f"{self.task}__{self.pattern}{band}"


# ----------------------------------------------------------------------------- config


def load_config(path: Path) -> dict:
    """The YAML config, checked for the keys every run needs (one-line errors naming the file)."""
    from genoattn.errors import ConfigError

    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the config: {exc}") from exc
    for key in ("model", "budget", "patterns", "tasks"):
        if key not in (config or {}):
            raise ConfigError(f"{path}: missing key {key!r}")
    for name, task in config["tasks"].items():
        if task.get("kind") not in ("motif_pairs", "genome"):
            raise ConfigError(f"{path}: tasks.{name}.kind must be 'motif_pairs' or 'genome', got {task.get('kind')!r}")
        if "window" not in task:
            raise ConfigError(f"{path}: tasks.{name} needs a window (nucleotides)")
        if set(task.get("model", {})) - TASK_MODEL_KEYS:
            raise ConfigError(f"{path}: tasks.{name}.model may set only {sorted(TASK_MODEL_KEYS)} (the same model "
                              f"size for every task), got {sorted(task['model'])}")
    return config


def attention_spec(entry: dict) -> Any:
    """``{class_path: ..., init_args: {...}}`` -> the attention spec object."""
    import importlib

    module, _, name = entry["class_path"].rpartition(".")
    return getattr(importlib.import_module(module), name)(**entry.get("init_args", {}))


def task_bands(task: dict) -> list[tuple[int, int]]:
    """The distance bands of a motif task: the config's list, or the generator's default for its window."""
    if task.get("bands"):
        return [(int(lo), int(hi)) for lo, hi in task["bands"]]
    from genoattn.data.motif_pairs import distance_bands

    return [tuple(b) for b in distance_bands(max_nt=task["window"], **task.get("band_options", {}))]


def grid(config: dict, tasks: list[str] | None = None, patterns: list[str] | None = None) -> list[Run]:
    """Every (task, pattern[, band]) of the config; motif tasks band by band (nearest first), every pattern each."""
    runs = []
    for task_name, task in config["tasks"].items():
        if tasks and task_name not in tasks:
            continue
        skip = set(task.get("skip_patterns", []))
        chosen = [p for p in config["patterns"] if (not patterns or p in patterns) and p not in skip]
        bands = task_bands(task) if task["kind"] == "motif_pairs" else [None]
        runs.extend(Run(task_name, pattern, band) for band in bands for pattern in chosen)  # band by band
    return runs


def find_run(config: dict, key: str) -> Run:
    for run in grid(config):
        if run.key == key:
            return run
    raise SystemExit(f"compare: no run {key!r} in the config")


# ----------------------------------------------------------------------------- one run (child process)


def build_data(task: dict, band: tuple[int, int] | None, seed: int):
    """The task's LightningDataModule."""
    data = dict(task.get("data", {}))
    data.setdefault("batch_size", task.get("batch_size", 8))
    if task["kind"] == "motif_pairs":
        from genoattn.data.motif_datamodule import MotifPairDataModule

        return MotifPairDataModule(window=task["window"], band=band, seed=seed, **data)
    from genoattn.data.datamodule import GenomeDataModule

    return GenomeDataModule(window=task["window"], seed=seed, **data)


def train_and_score(config: dict, run: Run, accelerator: str) -> dict:
    """Train one run within the budget; score its held-out split. Returns the row (metrics, params, time)."""
    import pytorch_lightning as pl
    import torch

    from genoattn.lit.module import GenomeLitModule
    from genoattn.models import GenomeTransformer

    task = config["tasks"][run.task]
    budget = config["budget"]
    seed = int(config.get("seed", 0))
    pl.seed_everything(seed, workers=True, verbose=False)
    data = build_data(task, run.band, seed)
    data.setup("fit")
    net = GenomeTransformer(vocab_size=data.vocab_size, num_classes=data.num_classes, task=data.task,
                            site_classes=getattr(data, "site_label_classes", 0),
                            attention=attention_spec(config["patterns"][run.pattern]), backend="auto",
                            **{**config["model"], **task.get("model", {})})
    module = GenomeLitModule(net, task=data.task, lr=float(budget.get("lr", 1e-3)),
                             warmup_steps=int(budget.get("warmup_steps", 50)),
                             rc_average_eval=bool(task.get("rc_average_eval", False)))
    trainer = pl.Trainer(accelerator=accelerator, devices=1, precision=config.get("precision", "32-true"),
                         max_steps=int(task.get("steps", budget["steps"])), max_epochs=-1, logger=False,
                         enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0, gradient_clip_val=float(budget.get("gradient_clip_val", 1.0)),
                         limit_test_batches=task.get("limit_test_batches", 1.0), deterministic=False)
    start = time.perf_counter()
    trainer.fit(module, datamodule=data)
    train_s = time.perf_counter() - start
    from genoattn.inference.model import receptive_field

    row: dict[str, Any] = {"steps": int(trainer.global_step), "train_s": round(train_s, 1),
                           "params": sum(p.numel() for p in net.parameters()),
                           "receptive_field_nt": receptive_field(net)}
    if task["kind"] == "motif_pairs":
        row.update(score_motif_pairs(module, data, torch.device("cuda" if accelerator == "gpu" else "cpu"),
                                     config.get("precision", "32-true")))
    else:
        results = trainer.test(module, datamodule=data, verbose=False)[0]
        row.update(genome_metric(data.task, results))
    return row


def genome_metric(task: str, results: dict) -> dict:
    """The headline metric of a GenomeDataModule task from Lightning's test results."""
    if task == "mlm":
        return {"metric_name": "mlm_accuracy", "metric": results["test/acc"],
                "perplexity": math.exp(results["test/loss"])}
    return {"metric_name": "auroc", "metric": results["test/auroc"], "auprc": results.get("test/auprc")}


def score_motif_pairs(module, data, device, precision: str) -> dict:
    """AUROC over the held-out windows and ``pair_auroc``: positives against the distance decoys only (the
    decision that needs both sites seen together). Token level: one score per window, the mean probability over
    its labelled B-site bases (windows without such bases, e.g. two A sites, are left out)."""
    import numpy as np
    import torch

    from genoattn.data.motif_pairs import b_site_targets, pair_metrics

    module = module.to(device).eval()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision.startswith("bf16"))
    probs, labels, kinds = [], [], []
    with torch.no_grad(), autocast:
        for batch in data.test_dataloader():
            logits = module.predict_logits(batch["input_ids"].to(device)).float()
            p = torch.softmax(logits, dim=-1)[..., 1].cpu()  # [B] or [B, L]: class 1 = positive / paired B site
            y, kind = batch["labels"], batch["kind"]
            if y.dim() == 2:
                keep, paired = (torch.from_numpy(a) for a in b_site_targets(y.numpy(), data.site_classes))  # [B, L]
                has = keep.any(dim=1)
                p = (p * keep).sum(1)[has] / keep.sum(1)[has]
                y, kind = (paired & keep).any(1)[has].long(), kind[has]
            probs.append(p.numpy())
            labels.append(y.numpy())
            kinds.append(kind.numpy())
    metrics = pair_metrics(np.concatenate(labels), np.concatenate(probs), np.concatenate(kinds))
    return {"metric_name": "auroc", "metric": metrics["auroc"], "pair_auroc": metrics["pair_auroc"],
            **{k: v for k, v in metrics.items() if k.startswith("auroc_")}, "test_windows": int(sum(map(len, labels)))}


def run_child(config: dict, key: str, out: Path) -> None:
    """``--run KEY``: one run, its row written to OUT/rows/KEY.json (status 'failed: ...' on error)."""
    import torch

    run = find_run(config, key)
    task = config["tasks"][run.task]
    accelerator = "gpu" if config.get("accelerator", "auto") in ("gpu", "cuda") or (
        config.get("accelerator", "auto") == "auto" and torch.cuda.is_available()) else "cpu"
    row: dict[str, Any] = {"task": run.task, "level": task.get("data", {}).get("level", task.get("level", "")),
                           "pattern": run.pattern, "window_nt": task["window"],
                           "band_lo": run.band[0] if run.band else "", "band_hi": run.band[1] if run.band else ""}
    try:
        row.update(train_and_score(config, run, accelerator))
        row["status"] = "ok"
    except Exception as exc:  # noqa: BLE001  (the row records why the run failed)
        oom = "out of memory" in str(exc).lower()
        row["status"] = "oom" if oom else f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    (out / "rows").mkdir(parents=True, exist_ok=True)
    (out / "rows" / f"{key}.json").write_text(json.dumps(row, indent=1) + "\n")


# ----------------------------------------------------------------------------- the grid (parent process)


def read_row(out: Path, run: Run) -> dict | None:
    path = out / "rows" / f"{run.key}.json"
    return json.loads(path.read_text()) if path.exists() else None


def launch_runs(config_path: Path, runs: list[Run], out: Path, workers: int, rerun_failed: bool) -> None:
    """Run every pending run, ``workers`` processes at a time, with a progress bar."""
    from tqdm import tqdm

    pending = []
    for run in runs:
        row = read_row(out, run)
        if row is None or (rerun_failed and row.get("status") != "ok"):
            pending.append(run)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **ENV, "PYTHONUNBUFFERED": "1"}
    active: list[tuple[Run, subprocess.Popen, Any]] = []
    bar = tqdm(total=len(pending), desc="compare runs", unit="run")
    queue = list(pending)
    while queue or active:
        while queue and len(active) < workers:
            run = queue.pop(0)
            log = open(out / "logs" / f"{run.key}.log", "w")  # noqa: SIM115  (closed when the run ends)
            command = [sys.executable, "-m", "pipelines.compare", "--config", str(config_path), "--out", str(out),
                       "--run", run.key]
            active.append((run, subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                                 env=env), log))
        time.sleep(0.5)
        for item in list(active):
            run, process, log = item
            if process.poll() is None:
                continue
            log.close()
            active.remove(item)
            if read_row(out, run) is None:  # the process died before writing its row (killed, segfault)
                tail = (out / "logs" / f"{run.key}.log").read_text().strip().splitlines()[-1:] or ["no output"]
                write_failed(out, run, config_path, f"failed: exit {process.returncode}: {tail[0][:200]}")
            bar.update(1)
            bar.set_postfix_str(f"{run.key}: {read_row(out, run).get('status')}")
    bar.close()


def write_failed(out: Path, run: Run, config_path: Path, status: str) -> None:
    config = load_config(config_path)
    task = config["tasks"][run.task]
    row = {"task": run.task, "pattern": run.pattern, "window_nt": task["window"],
           "band_lo": run.band[0] if run.band else "", "band_hi": run.band[1] if run.band else "", "status": status}
    (out / "rows").mkdir(parents=True, exist_ok=True)
    (out / "rows" / f"{run.key}.json").write_text(json.dumps(row, indent=1) + "\n")


def measure_cost(config: dict, patterns: list[str], out: Path) -> list[dict]:
    """Per pattern: training-step cost at each task window (the task's batch) and the longest window that trains
    (batch 1, doubling up to ``cost.max_window``); rows appended to OUT/cost.csv."""
    import torch

    from genoattn.bench import model as bench

    cost = config.get("cost", {})
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    peak = bench.matmul_peak_tflops(device) if device.type == "cuda" else None
    specs = {name: attention_spec(config["patterns"][name]) for name in patterns}
    model_args = dict(config["model"])
    steps, warmup, max_step_s = int(cost.get("steps", 5)), int(cost.get("warmup", 2)), float(cost.get("max_step_s", 20))
    rows = []
    for task in {(t["window"], t.get("batch_size", 8)) for t in config["tasks"].values()}:
        for row in bench.cost_grid(patterns, [task[0]], model_args, task[1], steps, warmup, device, peak,
                                   max_step_s, specs=specs):
            rows.append(row)
    lengths = bench.doubling(int(cost.get("first_window", min(t["window"] for t in config["tasks"].values()))),
                             int(cost.get("max_window", 1 << 20)))
    longest = bench.cost_grid(patterns, lengths, model_args, 1, max(1, steps // 2), 1, device, peak, max_step_s,
                              specs=specs)
    records = [{**row.__dict__, "backends": " ".join(row.backends), "kind": "task"} for row in rows]
    records += [{**row.__dict__, "backends": " ".join(row.backends), "kind": "longest"} for row in longest]
    meta = {"matmul_peak_tflops": peak, "longest": bench.longest_windows(longest)}
    (out / "cost.json").write_text(json.dumps({"meta": meta, "rows": records}, indent=1) + "\n")
    return records


def aggregate(config: dict, out: Path) -> list[dict]:
    """Rows of every finished run joined with the cost at their window; written as CSV and Markdown."""
    cost_path = out / "cost.json"
    cost = json.loads(cost_path.read_text()) if cost_path.exists() else {"meta": {}, "rows": []}
    longest = cost["meta"].get("longest", {})
    task_cost = {(r["pattern"], r["window_nt"]): r for r in cost["rows"] if r.get("kind") == "task"}
    rows = []
    for run in grid(config):
        row = read_row(out, run)
        if row is None:
            continue
        measured = task_cost.get((run.pattern, config["tasks"][run.task]["window"]), {})
        for key in ("ms_per_step", "tokens_per_s", "peak_gib", "mfu"):
            row.setdefault(key, measured.get(key))
        row["longest_window_nt"] = longest.get(run.pattern)
        rows.append(row)
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    with open(out / "cost.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["kind", *COST_FIELDS], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(cost["rows"])
    (out / "results.md").write_text(results_markdown(rows))
    return rows


def _cell(value: Any, digits: int = 3) -> str:
    if value in (None, ""):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1e-3 else f"{value:.2e}"
    return str(value)


def results_markdown(rows: list[dict]) -> str:
    """One table per task: patterns as rows, the metric per band (motif tasks) or the metric, then the cost."""
    lines = []
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = [r for r in rows if r["task"] == task]
        bands = sorted({(r["band_lo"], r["band_hi"]) for r in mine if r.get("band_lo") not in ("", None)})
        window = mine[0]["window_nt"]
        metric = next((r.get("metric_name") for r in mine if r.get("metric_name")), "metric")
        lines += [f"### {task} (window {window:,} nt; {'pair AUROC per distance band' if bands else metric})", ""]
        heads = [f"{lo:,}-{hi:,} nt" for lo, hi in bands] if bands else [metric]
        lines.append("| pattern | " + " | ".join(heads) + " | ms/step | tokens/s | peak GiB | MFU | longest window |")
        lines.append("|---" * (len(heads) + 6) + "|")
        for pattern in dict.fromkeys(r["pattern"] for r in mine):
            cells = []
            for band in bands or [None]:
                row = next((r for r in mine if r["pattern"] == pattern and (
                    band is None or (r["band_lo"], r["band_hi"]) == band)), {})
                value = row.get("pair_auroc" if band else "metric") if row.get("status") == "ok" else row.get("status")
                cells.append(_cell(value))
            first = next(r for r in mine if r["pattern"] == pattern)
            cost = [_cell(first.get("ms_per_step")), _cell(first.get("tokens_per_s"), 3),
                    _cell(first.get("peak_gib")), _cell(first.get("mfu"), 2), _cell(first.get("longest_window_nt"))]
            lines.append(f"| {pattern} | " + " | ".join(cells + cost) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: the config's out)")
    parser.add_argument("--tasks", nargs="*", default=None)
    parser.add_argument("--patterns", nargs="*", default=None)
    parser.add_argument("--workers", type=int, default=None, help="runs at a time (default: the config's)")
    parser.add_argument("--no-cost", action="store_true", help="skip the cost measurements")
    parser.add_argument("--only-cost", action="store_true", help="only the cost measurements")
    parser.add_argument("--no-runs", action="store_true", help="only aggregate and plot what is there")
    parser.add_argument("--rerun-failed", action="store_true")
    parser.add_argument("--run", default=None, help=argparse.SUPPRESS)  # one run, in a child process
    args = parser.parse_args(argv)
    os.environ.update(ENV)  # before genoattn's kernels are imported (they read it at import)
    from genoattn.errors import GenoattnError

    try:
        config = load_config(args.config)
    except GenoattnError as exc:
        parser.exit(2, f"pipelines.compare: error: {exc}\n")
    out = args.out or Path(config.get("out", "benchmarks/compare"))
    out.mkdir(parents=True, exist_ok=True)
    if args.run:
        run_child(config, args.run, out)
        return
    unknown = [p for p in args.patterns or [] if p not in config["patterns"]]
    unknown += [t for t in args.tasks or [] if t not in config["tasks"]]
    if unknown:
        parser.exit(2, f"pipelines.compare: error: {args.config}: no pattern or task named {unknown}\n")
    import torch

    from genoattn.bench.provenance import provenance

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not args.no_runs:  # aggregating alone keeps the provenance of the runs
        (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        (out / "provenance.json").write_text(json.dumps(provenance(device), indent=1) + "\n")
    patterns = args.patterns or list(config["patterns"])
    if not args.no_cost and not args.no_runs:
        measure_cost(config, patterns, out)
    if not args.only_cost and not args.no_runs:
        runs = grid(config, args.tasks, args.patterns)
        launch_runs(args.config, runs, out, args.workers or int(config.get("workers", 1)), args.rerun_failed)
    rows = aggregate(config, out)
    from genoattn.bench.plot_compare import plot_all

    plot_all(out)
    print((out / "results.md").read_text())
    failed = [r for r in rows if r.get("status") != "ok"]
    if failed:
        print(f"{len(failed)} of {len(rows)} runs did not finish: " + ", ".join(
            f"{r['task']}/{r['pattern']}: {r['status']}" for r in failed[:10]))


if __name__ == "__main__":
    main()
