"""Draw attention patterns with matplotlib (imported lazily; works with the headless Agg backend).

Up to ``MAX_DENSE_LENGTH`` the image is the mask itself (query rows, key columns; 1 = visible). Longer sequences
are drawn at block level from the analytic ``block_layout`` (0 = skipped, 1 = partial, 2 = fully visible),
which never builds an L x L mask.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from genoattn.attention.patterns import Pattern
from genoattn.errors import InputError

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_DENSE_LENGTH = 4096


def pattern_image(
    pattern: Pattern, length: int, head: int = 0, block_size: int | None = None, num_heads: int | None = None
) -> torch.Tensor:
    """The array ``plot_pattern`` draws: bool [L, L] mask, or int [NB, NB] block map (0/1/2) for long L.

    ``num_heads``: heads of the layer (default head + 1; patterns with one setting per head need theirs)."""
    num_heads = num_heads or head + 1
    if not 0 <= head < num_heads:
        raise InputError(f"plot_pattern: head must be in [0, {num_heads}), got {head}")
    if length <= MAX_DENSE_LENGTH:
        mask = pattern.dense_mask(length, num_heads)  # [H or 1, L, L]
        return mask[head if mask.shape[0] > 1 else 0]
    layout = pattern.block_layout(length, block_size or 128, num_heads)
    row = head if layout.indices.shape[0] > 1 else 0
    blocks = layout.dense_blocks()[row].to(torch.int8)  # [NB, NB]
    valid = torch.arange(layout.indices.shape[-1]) < layout.counts[row].unsqueeze(-1)
    q, col = torch.nonzero(valid & layout.full[row], as_tuple=True)
    blocks[q, layout.indices[row, q, col].long()] = 2
    return blocks


def plot_pattern(
    pattern: Pattern,
    length: int,
    head: int = 0,
    ax: Axes | None = None,
    block_size: int | None = None,
    legend: bool = True,
    num_heads: int | None = None,
) -> Axes:
    """Draw which keys (columns) each query (rows) sees for one head; ``block_size`` adds the block grid.

    Returns the matplotlib Axes (a new figure when ``ax`` is None); ``legend`` names the grey levels on the axes
    (``mask_legend_handles`` gives the entries for a figure-level legend instead).
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4, 4))
    image = pattern_image(pattern, length, head, block_size, num_heads)
    dense = length <= MAX_DENSE_LENGTH
    extent = (-0.5, length - 0.5, length - 0.5, -0.5)
    ax.imshow(
        image.to(torch.uint8).numpy(),
        cmap="Greys",
        interpolation="nearest",
        vmin=0,
        vmax=1 if dense else 2,
        extent=extent,
    )
    if block_size is not None and dense:
        for edge in range(block_size, length, block_size):
            ax.axhline(edge - 0.5, color="tab:red", linewidth=0.5)
            ax.axvline(edge - 0.5, color="tab:red", linewidth=0.5)
    ax.set_title(textwrap.fill(f"{pattern}" + (f" head {head}" if head else ""), 44), fontsize=8)
    ax.set_xlabel("key position j (token)")
    ax.set_ylabel("query position i (token)")
    if legend:
        ax.legend(handles=mask_legend_handles(dense, block_size is not None), loc="upper right", fontsize=6,
                  framealpha=0.8)
    return ax


def mask_legend_handles(dense: bool = True, block_edges: bool = False) -> list:
    """Legend entries of the mask image's grey levels (dense: visible/masked; block map: full/partial/skipped)."""
    from matplotlib import colormaps
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    greys = colormaps["Greys"]
    if dense:
        levels = [(1.0, "visible (i sees j)"), (0.0, "masked")]
    else:
        levels = [(1.0, "block fully visible"), (0.5, "block partly visible"), (0.0, "block skipped")]
    handles: list[Artist] = [Patch(facecolor=greys(level), edgecolor="grey", label=label) for level, label in levels]
    if block_edges and dense:
        handles.append(Line2D([], [], color="tab:red", linewidth=0.5, label="block edge"))
    return handles


def differing_head(pattern: Pattern, length: int, num_heads: int = 4) -> int | None:
    """The first head whose mask differs from head 0's at ``length`` (None: every head sees the same keys)."""
    mask = pattern.dense_mask(length, num_heads)  # [H or 1, L, L]
    for head in range(1, mask.shape[0]):
        if not torch.equal(mask[head], mask[0]):
            return head
    return None


def plot_patterns(
    patterns: Sequence[Pattern],
    length: int,
    head: int | Sequence[int] = 0,
    block_size: int | None = None,
    ncols: int = 4,
    num_heads: int | None = None,
) -> Figure:
    """Grid of ``plot_pattern`` panels, one per pattern (``head``: one head for all, or one per pattern), with one
    legend for the figure; returns the Figure."""
    import matplotlib.pyplot as plt

    if not patterns:
        raise InputError("plot_patterns needs at least one pattern, got none")
    heads = [head] * len(patterns) if isinstance(head, int) else list(head)
    if len(heads) != len(patterns):
        raise InputError(f"plot_patterns: {len(heads)} heads given for {len(patterns)} patterns")
    ncols = min(ncols, len(patterns))
    nrows = -(-len(patterns) // ncols)
    height = 3.6 * nrows + 0.4  # inches: panels, then the legend row
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, height), squeeze=False)
    for ax, pattern, h in zip(axes.flat, patterns, heads):
        plot_pattern(pattern, length, head=h, ax=ax, block_size=block_size, legend=False, num_heads=num_heads)
    for ax in list(axes.flat)[len(patterns) :]:
        ax.set_axis_off()
    dense = length <= MAX_DENSE_LENGTH
    handles = mask_legend_handles(dense, block_size is not None)
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    fig.tight_layout(rect=(0, 0.4 / height, 1, 1))
    return fig
