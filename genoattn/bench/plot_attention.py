"""Plots of an attention benchmark run: useful TFLOP/s as a fraction of the fastest dense SDPA kernel, and time,
against length (one line per pattern, backend and head dim; runs before the best-kernel column use flash's ratio).

    python -m genoattn.bench.plot_attention benchmarks/attention/h100/results.json [out.png]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from genoattn.bench.dense_sdpa import SDPA_BACKENDS, is_dense_sdpa

# reference and blocked stay in the CSV, not in the plot
SHOWN = ("flex", "module", "xformers", "triton_band", "triton_blocks", "sdpa_parts", *SDPA_BACKENDS)


def plot(results: Path, out: Path, backends: tuple[str, ...] = SHOWN) -> Path:
    """Write a 2 x 2 figure (ratio to the best dense SDPA kernel and milliseconds; forward and forward + backward)
    to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(Path(results).read_text())
    rows = [r for r in data["rows"] if r["status"] == "ok" and r["backend"] in backends]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9), sharex=True)
    colours = matplotlib.color_sequences["tab10"]  # the colours of the tab10 colormap
    for col, mode in enumerate(("fwd", "fwdbwd")):
        series: dict[tuple[str, str, int], list[dict]] = {}
        for r in rows:
            if r["mode"] == mode:
                series.setdefault((r["pattern"], r["backend"], r.get("head_dim", 64)), []).append(r)
        for i, ((pattern, backend, head_dim), points) in enumerate(sorted(series.items())):
            points.sort(key=lambda r: r["length"])
            label = f"{pattern} ({backend}, D={head_dim})"
            dense = is_dense_sdpa(backend)
            style = {"color": "black" if dense else colours[i % 10], "ls": "--" if dense else "-"}
            xs = [r["length"] for r in points]
            axes[1, col].plot(xs, [r["ms"] for r in points], marker="o", label=label, **style)
            ratio = [(r["length"], r.get("ratio_best_sdpa", r.get("ratio_sdpa"))) for r in points]
            ratio = [(x, y) for x, y in ratio if y is not None]
            if ratio and not dense:
                axes[0, col].plot(*zip(*ratio), marker="o", label=label, **style)
        title = "forward" if mode == "fwd" else "forward + backward"
        axes[0, col].axhline(0.6, color="grey", lw=0.8, ls=":")
        axes[0, col].set(title=f"{title}: useful TFLOP/s / best dense SDPA's", xscale="log", yscale="log")
        axes[1, col].set(title=f"{title}: median time", xscale="log", yscale="log", xlabel="sequence length",
                         ylabel="ms")
    meta = data["meta"]
    fig.suptitle(f"{meta['device']}, B=1, H={meta['heads']}, D={meta.get('head_dims', meta.get('head_dim'))}, "
                 f"{meta['dtype']} (target: ratio >= 0.6 at 64k, dotted)")
    handles, labels = axes[1, 1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.83, 0.97))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


if __name__ == "__main__":
    source = Path(sys.argv[1])
    plot(source, Path(sys.argv[2]) if len(sys.argv) > 2 else source.with_name("attention.png"))
