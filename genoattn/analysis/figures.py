"""The notebooks' figure conventions, checked: every plot has a title, axis labels with units and a legend.

A label has units when it ends in a parenthesised or bracketed unit ("sequence length L (tokens)"); an axis of
named categories (pattern names, contigs) needs a label but no unit. Panels sharing an axis share its label (a grid
labelled on its outer panels only); panels stacked over one shared x axis (browser tracks) also share the title
of the panel that has one. An image or scatter coloured through a
colour bar counts the colour bar as its legend; the colour bar's own axes are checked as part of it (label only).
"""

from __future__ import annotations

import re

from matplotlib.axes import Axes
from matplotlib.category import StrCategoryConverter
from matplotlib.figure import Figure
from matplotlib.ticker import FixedFormatter, FixedLocator, FuncFormatter

UNIT = re.compile(r"[(\[][^()\[\]]+[)\]]\s*$")


def _has_data(ax: Axes) -> bool:
    return bool(ax.lines or ax.collections or ax.images or ax.patches or ax.containers)


def _categorical(axis) -> bool:  # noqa: ANN001 - matplotlib XAxis / YAxis
    """Strings plotted as categories, or ticks named by hand (``set_yticks(ticks, labels=...)``: matplotlib gives
    them a FixedFormatter, or since 3.10 a FuncFormatter over a FixedLocator)."""
    converter = axis.get_converter() if hasattr(axis, "get_converter") else axis.converter
    formatter = axis.get_major_formatter()
    named = isinstance(formatter, FuncFormatter) and isinstance(axis.get_major_locator(), FixedLocator)
    return isinstance(converter, StrCategoryConverter) or isinstance(formatter, FixedFormatter) or named


def _colorbar(ax: Axes) -> bool:
    return any(getattr(artist, "colorbar", None) is not None for artist in [*ax.images, *ax.collections])


def axes_problems(ax: Axes, where: str = "") -> list[str]:
    """What ``ax`` lacks of the conventions (empty list: nothing); axes without data are not checked."""
    if not ax.get_visible() or not ax.axison or not _has_data(ax):
        return []
    if getattr(ax, "_colorbar", None) is not None:  # a colour bar: its long axis needs a label with units
        cbar_axis = ax.yaxis if ax.get_ylabel() else ax.xaxis
        label = cbar_axis.get_label().get_text()
        return [] if label and UNIT.search(label) else [f"{where}colour bar label {label!r} has no units"]
    fig = ax.get_figure()
    stacked = ax.get_shared_x_axes().get_siblings(ax)  # panels of one plot over a shared x axis (tracks)
    name = next((t for a in [ax, *stacked] for t in (a.get_title(), a.get_title("left")) if t), "")
    title = getattr(fig, "_suptitle", None)  # the figure's suptitle Text (get_suptitle needs matplotlib 3.8)
    suptitle = title.get_text() if title is not None else ""
    where = f"{where}axes {name or suptitle or '(untitled)'!r}: "
    problems = [] if name or suptitle else [f"{where}no title"]
    xlabel = next((a.get_xlabel() for a in [ax, *stacked] if a.get_xlabel()), "")
    ylabel = next((a.get_ylabel() for a in [ax, *ax.get_shared_y_axes().get_siblings(ax)] if a.get_ylabel()), "")
    for axis, label in ((ax.xaxis, xlabel), (ax.yaxis, ylabel)):
        which = axis.axis_name
        if not label:
            problems.append(f"{where}no {which} label")
        elif not _categorical(axis) and not UNIT.search(label):
            problems.append(f"{where}{which} label {label!r} has no units in parentheses")
    has_legend = ax.get_legend() is not None or bool(fig is not None and fig.legends) or _colorbar(ax)
    if not has_legend:
        problems.append(f"{where}no legend")
    return problems


def figure_problems(fig: Figure) -> list[str]:
    """``axes_problems`` of every axes of ``fig``."""
    label = fig.get_label() or f"figure {getattr(fig, 'number', '')}".strip()
    return [p for ax in fig.axes for p in axes_problems(ax, f"{label}: ")]


def open_figure_problems() -> list[str]:
    """``figure_problems`` of every figure pyplot holds open (the notebook test runs this after the last cell)."""
    import matplotlib.pyplot as plt

    return [p for number in plt.get_fignums() for p in figure_problems(plt.figure(number))]
