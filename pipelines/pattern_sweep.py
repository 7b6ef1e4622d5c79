"""Train the quickstart task once per attention pattern with the same budget; collect test metrics.

    python -m pipelines.pattern_sweep --out benchmarks/patterns [--patterns full longformer ...]
        [--max-time 00:00:03:30] [-- extra CLI overrides passed to every run]

Each run is ``python -m genoattn.train --config configs/quickstart.yaml --config configs/patterns/NAME.yaml``
in its own process (so one failure does not stop the sweep). Writes ``OUT/results.csv`` (one row per
pattern: test metrics, training tokens/s, peak memory, wall time, status) and ``OUT/results.png``.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PATTERN_DIR = REPO / "configs" / "patterns"
FIELDS = ["pattern", "status", "test/auroc", "test/auprc", "test/acc", "test/mcc", "test/f1", "test/loss",
          "train_tokens_per_s", "peak_memory_gib", "wall_s"]


def run_pattern(name: str, out: Path, max_time: str, extra: list[str]) -> dict:
    """Train and test one pattern; return its row (status 'failed: ...' when the run fails)."""
    root = out / "runs" / name
    command = [
        sys.executable, "-m", "genoattn.train", "--config", "configs/quickstart.yaml",
        "--config", str(PATTERN_DIR.relative_to(REPO) / f"{name}.yaml"),
        "--trainer.default_root_dir", str(root), "--trainer.max_time", max_time,
        "--trainer.enable_progress_bar", "false", "--checkpoint.dirpath", str(root / "checkpoints"), *extra,
    ]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    (out / "logs").mkdir(parents=True, exist_ok=True)
    (out / "logs" / f"{name}.log").write_text(result.stdout[-20000:] + "\n--- stderr ---\n" + result.stderr[-20000:])
    row: dict = {"pattern": name, "wall_s": round(wall, 1)}
    summary_path = root / "checkpoints" / "test_metrics.json"
    if result.returncode != 0 or not summary_path.exists():
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        row["status"] = f"failed: {last[:200]}"
        return row
    summary = json.loads(summary_path.read_text())
    row.update({k: round(v, 4) for k, v in summary["test"].items()})
    throughput = summary.get("throughput", {})
    row["train_tokens_per_s"] = round(throughput.get("train_tokens_per_s", 0.0))
    row["peak_memory_gib"] = round(throughput.get("peak_memory_gib", 0.0), 3)
    row["status"] = "ok"
    return row


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r.get("status") == "ok"]
    if not done:
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in done:
        ax.scatter(r["train_tokens_per_s"] / 1e3, r["test/auroc"], s=40)
        ax.annotate(r["pattern"], (r["train_tokens_per_s"] / 1e3, r["test/auroc"]), fontsize=8,
                    xytext=(4, 3), textcoords="offset points")
    ax.set_xlabel("training throughput (k nucleotides / s, CPU)")
    ax.set_ylabel("held-out-contig AUROC (coding vs non-coding)")
    ax.set_title("Attention patterns, same time budget")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/patterns"))
    parser.add_argument("--patterns", nargs="*", default=sorted(p.stem for p in PATTERN_DIR.glob("*.yaml")))
    parser.add_argument("--max-time", default="00:00:03:30", help="training budget per pattern (DD:HH:MM:SS)")
    parser.add_argument("extra", nargs="*", help="overrides passed to every run (after --)")
    args = parser.parse_args(argv)
    unknown = [p for p in args.patterns if not (PATTERN_DIR / f"{p}.yaml").exists()]
    if unknown:
        parser.error(f"no config for {unknown} in {PATTERN_DIR}")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.patterns:
        print(f"[sweep] {name} ...", flush=True)
        rows.append(run_pattern(name, args.out, args.max_time, args.extra))
        print(f"[sweep] {name}: {rows[-1].get('status')} auroc={rows[-1].get('test/auroc')}", flush=True)
        with open(args.out / "results.csv", "w", newline="") as fh:  # rewritten after each run: nothing lost
            writer = csv.DictWriter(fh, fieldnames=FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    plot(rows, args.out / "results.png")
    print((args.out / "results.csv").read_text())


if __name__ == "__main__":
    main()
