"""A genome-browser-style figure of one region: predicted probability, annotated features on both strands, calls.

``plot_region`` stacks three tracks over a shared position axis (nt on the contig): the per-nucleotide
probability with the calling threshold, the annotated features drawn as arrows on a plus-strand and a
minus-strand row, and the called intervals. ``draw_features`` draws the arrows alone (also used under a
sequence in the data notebook).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrow, Patch

from genoattn.errors import InputError

PLUS, MINUS = 1, 2  # strand codes of genoattn.data.labels.IntervalIndex


def draw_features(ax: Axes, starts: Sequence[int], ends: Sequence[int], strands: Sequence[int], y: float,
                  colour: str, clip: tuple[int, int] | None = None, height: float = 0.5) -> int:
    """Draw [start, end) features as arrows pointing along their strand (MINUS: leftwards) at height ``y``;
    ``clip`` cuts them to a region. Returns how many were drawn."""
    drawn = 0
    for start, end, strand in zip(starts, ends, strands):
        if clip is not None:
            start, end = max(int(start), clip[0]), min(int(end), clip[1])
        if end <= start:
            continue
        length = end - start
        forward = strand != MINUS
        ax.add_patch(FancyArrow(start if forward else end, y, length if forward else -length, 0, width=height * 0.6,
                                head_width=height, head_length=min(length, max(1.0, 0.02 * length)),
                                length_includes_head=True, color=colour, alpha=0.7, linewidth=0))
        drawn += 1
    return drawn


def plot_region(contig: str, start: int, end: int, probability: np.ndarray, features: dict[str, np.ndarray],
                calls: Sequence[tuple[int, int]], threshold: float = 0.5, feature_name: str = "feature",
                title: str | None = None) -> Figure:
    """Browser figure of ``contig[start:end]``.

    probability: float [end - start] (NaN where there is no prediction); features: arrays ``start``, ``end``,
    ``strand`` (IntervalIndex.overlapping); calls: (start, end) of called intervals, contig coordinates."""
    import matplotlib.pyplot as plt

    if len(probability) != end - start:
        raise InputError(f"plot_region: {len(probability)} probabilities for a region of {end - start} nt")
    x = np.arange(start, end)
    fig, (ax_p, ax_f, ax_c) = plt.subplots(3, 1, figsize=(12, 5), sharex=True, height_ratios=[2.2, 1.2, 0.6])
    ax_p.plot(x, probability, color="tab:blue", linewidth=1, label="predicted probability")
    ax_p.fill_between(x, 0, np.nan_to_num(probability), color="tab:blue", alpha=0.2)
    ax_p.axhline(threshold, color="tab:red", linestyle=":", linewidth=1, label=f"threshold {threshold:g}")
    ax_p.set(ylim=(0, 1.02), ylabel=f"P({feature_name}) (probability)",
             title=title or f"{contig}:{start:,}-{end:,}")
    ax_p.legend(fontsize=7, loc="upper right")

    for strand, y, colour in ((PLUS, 1.0, "tab:green"), (MINUS, 0.0, "tab:purple")):
        on_strand = features["strand"] == strand
        draw_features(ax_f, features["start"][on_strand], features["end"][on_strand], features["strand"][on_strand],
                      y, colour, clip=(start, end))
        ax_f.plot([], [], color=colour, linewidth=6, alpha=0.7,
                  label=f"{feature_name}, {'+' if strand == PLUS else '-'} strand")
    ax_f.set_yticks([1.0, 0.0], labels=["+", "-"])
    ax_f.set(ylim=(-0.6, 1.6), ylabel="strand")
    ax_f.legend(fontsize=7, loc="upper right", ncol=2)

    for call_start, call_end in calls:
        lo, hi = max(int(call_start), start), min(int(call_end), end)
        if hi > lo:
            ax_c.axvspan(lo, hi, ymin=0.2, ymax=0.8, color="tab:orange", alpha=0.8)
    ax_c.set_yticks([0.5], labels=["calls"])
    ax_c.set(xlim=(start, end), ylim=(0, 1), ylabel="track", xlabel=f"position on {contig} (nt)")
    ax_c.legend(handles=[Patch(color="tab:orange", alpha=0.8, label=f"called interval (P >= {threshold:g})")],
                fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig
