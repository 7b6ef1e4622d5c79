"""Plots of an attention benchmark run: useful TFLOP/s as a fraction of dense SDPA, and time, against length.

    python -m genoattn.bench.plot_attention benchmarks/attention/h100/results.json [out.png]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SHOWN = ("flex", "module", "sdpa", "xformers")  # reference and blocked stay in the CSV, not in the plot


def plot(results: Path, out: Path, backends: tuple[str, ...] = SHOWN) -> Path:
    """Write a 2 x 2 figure (ratio to SDPA and milliseconds; forward and forward + backward) to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(Path(results).read_text())
    rows = [r for r in data["rows"] if r["status"] == "ok" and r["backend"] in backends]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9), sharex=True)
    colours = plt.get_cmap("tab10").colors
    for col, mode in enumerate(("fwd", "fwdbwd")):
        series: dict[tuple[str, str], list[dict]] = {}
        for r in rows:
            if r["mode"] == mode:
                series.setdefault((r["pattern"], r["backend"]), []).append(r)
        for i, ((pattern, backend), points) in enumerate(sorted(series.items())):
            points.sort(key=lambda r: r["length"])
            label = f"{pattern} ({backend})"
            style = {"color": "black", "ls": "--"} if backend == "sdpa" else {"color": colours[i % 10], "ls": "-"}
            xs = [r["length"] for r in points]
            axes[1, col].plot(xs, [r["ms"] for r in points], marker="o", label=label, **style)
            ratio = [(r["length"], r["ratio_sdpa"]) for r in points if r.get("ratio_sdpa") is not None]
            if ratio and backend != "sdpa":
                axes[0, col].plot(*zip(*ratio), marker="o", label=label, **style)
        title = "forward" if mode == "fwd" else "forward + backward"
        axes[0, col].axhline(0.6, color="grey", lw=0.8, ls=":")
        axes[0, col].set(title=f"{title}: useful TFLOP/s / dense SDPA TFLOP/s", xscale="log", yscale="log")
        axes[1, col].set(title=f"{title}: median time", xscale="log", yscale="log", xlabel="sequence length",
                         ylabel="ms")
    fig.suptitle(f"{data['meta']['device']}, B=1, H={data['meta']['heads']}, D={data['meta']['head_dim']}, "
                 f"{data['meta']['dtype']} (target: ratio >= 0.6 at 64k, dotted)")
    handles, labels = axes[1, 1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.83, 0.97))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


if __name__ == "__main__":
    source = Path(sys.argv[1])
    plot(source, Path(sys.argv[2]) if len(sys.argv) > 2 else source.with_name("attention.png"))
