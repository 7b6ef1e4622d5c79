"""Plots of the pattern comparison (pipelines.compare): accuracy vs distance, accuracy vs cost with the Pareto
front, memory vs window with out-of-memory points. Reads OUT/results.csv and OUT/cost.csv, writes PNGs beside."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as fh:
        return list(csv.DictReader(fh))


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _style(patterns: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    markers = "osD^v<>Pp*X"
    return {p: (cmap(i % 10), markers[i % len(markers)]) for i, p in enumerate(patterns)}


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points on the Pareto front (lower x, higher y is better; genoattn.bench.pareto), sorted by x."""
    import numpy as np

    from genoattn.bench.pareto import pareto_mask

    if not points:
        return []
    x, y = np.array(points, dtype=float).T
    return sorted((float(a), float(b)) for a, b, keep in zip(x, y, pareto_mask(x, y)) if keep)


def plot_distance(rows: list[dict], out: Path) -> Path | None:
    """Pair AUROC (positives vs distance decoys) against the distance band, one line per pattern, per motif task."""
    motif = [r for r in rows if r.get("band_lo") and r.get("status") == "ok"]
    tasks = list(dict.fromkeys(r["task"] for r in motif))
    if not tasks:
        return None
    style = _style(list(dict.fromkeys(r["pattern"] for r in rows)))
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.5 * len(tasks), 4.5), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        mine = [r for r in motif if r["task"] == task]
        for pattern in dict.fromkeys(r["pattern"] for r in mine):
            pts = sorted(((float(r["band_lo"]) * float(r["band_hi"])) ** 0.5, float(r["pair_auroc"]))
                         for r in mine if r["pattern"] == pattern)
            color, marker = style[pattern]
            ax.plot(*zip(*pts), marker=marker, color=color, label=pattern)
            field = _num(next(r for r in mine if r["pattern"] == pattern).get("receptive_field_nt"))
            if field:
                ax.axvline(field, color=color, lw=0.6, ls=":")
        ax.axhline(0.5, color="grey", lw=0.8, ls="--", label="chance")
        ax.set_xscale("log")
        ax.set_xlabel("motif pair distance (nt, band centre; dotted: receptive field)")
        ax.set_ylabel("held-out pair AUROC (positives vs distance decoys)")
        ax.set_title(f"{task}: window {int(float(mine[0]['window_nt'])):,} nt")
        ax.set_ylim(0.3, 1.02)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    path = out / "accuracy_vs_distance.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _task_score(rows: list[dict], task: str, pattern: str) -> float | None:
    """One score per (task, pattern): the metric, or for motif tasks the mean pair AUROC over bands."""
    mine = [r for r in rows if r["task"] == task and r["pattern"] == pattern and r.get("status") == "ok"]
    if not mine:
        return None
    scores = [_num(r.get("pair_auroc")) if r.get("band_lo") else _num(r.get("metric")) for r in mine]
    values = [v for v in scores if v is not None]
    return sum(values) / len(values) if values else None


def plot_cost(rows: list[dict], out: Path) -> Path | None:
    """Score against ms/step and against peak memory, per task, with the Pareto front."""
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    patterns = list(dict.fromkeys(r["pattern"] for r in rows))
    if not tasks:
        return None
    style = _style(patterns)
    fig, axes = plt.subplots(2, len(tasks), figsize=(5.5 * len(tasks), 8), squeeze=False)
    for column, task in enumerate(tasks):
        for row_index, (key, label) in enumerate((("ms_per_step", "ms per training step"),
                                                  ("peak_gib", "peak GPU memory per step (GiB)"))):
            ax = axes[row_index][column]
            points = []
            for pattern in patterns:
                score = _task_score(rows, task, pattern)
                first = next((r for r in rows if r["task"] == task and r["pattern"] == pattern), {})
                cost = _num(first.get(key))
                if score is None or cost is None:
                    continue
                color, marker = style[pattern]
                ax.scatter(cost, score, color=color, marker=marker, label=pattern, s=45)
                points.append((cost, score))
            front = pareto_front(points)
            if len(front) > 1:
                ax.plot(*zip(*front), color="black", lw=0.8, ls="--", label="Pareto front")
            ax.set_xscale("log")
            ax.set_xlabel(label)
            metric = next((r.get("metric_name") for r in rows if r["task"] == task and r.get("metric_name")), "")
            ax.set_ylabel("mean pair AUROC over bands" if any(r.get("band_lo") for r in rows if r["task"] == task)
                          else f"held-out {metric}")
            ax.set_title(f"{task}: score vs {key.replace('_', ' ')}")
            ax.grid(alpha=0.3)
            if column == len(tasks) - 1 and row_index == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "accuracy_vs_cost.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_memory(cost: list[dict], out: Path) -> Path | None:
    """Peak memory of a training step (batch 1) against the window, per pattern; crosses where it ran out."""
    longest = [r for r in cost if r.get("kind") == "longest"]
    if not longest:
        return None
    style = _style(list(dict.fromkeys(r["pattern"] for r in longest)))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for pattern in dict.fromkeys(r["pattern"] for r in longest):
        mine = [r for r in longest if r["pattern"] == pattern]
        color, marker = style[pattern]
        ok = [(int(r["window_nt"]), float(r["peak_gib"])) for r in mine
              if r["status"] == "ok" and r.get("peak_gib") not in (None, "")]  # no peak memory on the CPU
        if ok:
            ax.plot(*zip(*ok), marker=marker, color=color, label=pattern)
        for r in mine:
            if r["status"] != "ok":
                y = ok[-1][1] if ok else 1.0
                ax.scatter(int(r["window_nt"]), y, marker="x", color=color, s=70)
                ax.annotate(r["status"].split(":")[0], (int(r["window_nt"]), y), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("window (nucleotides)")
    ax.set_ylabel("peak GPU memory, one training step (GiB)")
    ax.set_title("Memory vs window (x: out of memory / too slow)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "memory_vs_window.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_all(out: Path) -> list[Path]:
    """Every plot that the results in ``out`` allow."""
    rows, cost = _read(out / "results.csv"), _read(out / "cost.csv")
    made = [plot_distance(rows, out), plot_cost(rows, out), plot_memory(cost, out)]
    return [p for p in made if p is not None]
