"""Plots of an attention benchmark run: useful TFLOP/s as a fraction of dense SDPA, and time, against length.

    python -m genoattn.bench.plot_attention benchmarks/attention/h100/results.json [out.png]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def plot(results: Path, out: Path) -> Path:
    """Write a 2 x 2 figure (ratio to SDPA and milliseconds; forward and forward + backward) to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in json.loads(Path(results).read_text())["rows"] if r["status"] == "ok"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 9), sharex=True)
    for col, mode in enumerate(("fwd", "fwdbwd")):
        series: dict[tuple[str, str], list[dict]] = {}
        for r in rows:
            if r["mode"] == mode:
                series.setdefault((r["pattern"], r["backend"]), []).append(r)
        for (pattern, backend), points in sorted(series.items()):
            points.sort(key=lambda r: r["length"])
            label = f"{pattern} ({backend})"
            style = "--" if backend in ("sdpa", "reference", "blocked", "xformers") else "-"
            xs = [r["length"] for r in points]
            axes[1, col].plot(xs, [r["ms"] for r in points], style, marker="o", label=label)
            ratio = [(r["length"], r["ratio_sdpa"]) for r in points if r.get("ratio_sdpa") is not None]
            if ratio and backend != "sdpa":
                axes[0, col].plot(*zip(*ratio), style, marker="o", label=label)
        title = "forward" if mode == "fwd" else "forward + backward"
        axes[0, col].axhline(0.6, color="grey", lw=0.8, ls=":")
        axes[0, col].set(title=f"{title}: useful TFLOP/s / dense SDPA TFLOP/s", xscale="log", yscale="log")
        axes[1, col].set(title=f"{title}: median time", xscale="log", yscale="log", xlabel="sequence length",
                         ylabel="ms")
    axes[0, 0].legend(fontsize=7)
    axes[1, 1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


if __name__ == "__main__":
    source = Path(sys.argv[1])
    plot(source, Path(sys.argv[2]) if len(sys.argv) > 2 else source.with_name("attention.png"))
