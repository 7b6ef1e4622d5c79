"""figures: the checker finds missing titles, labels, units and legends, and accepts what the notebooks draw."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from genoattn.analysis.figures import figure_problems, open_figure_problems  # noqa: E402
from genoattn.attention.patterns import SlidingWindow  # noqa: E402
from genoattn.attention.viz import plot_patterns  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    plt.close("all")
    yield
    plt.close("all")


def test_complete_line_plot_passes():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4], label="a")
    ax.set(title="t", xlabel="length L (tokens)", ylabel="time [ms]")
    ax.legend()
    assert figure_problems(fig) == []


def test_each_missing_part_is_named():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    ax.set(xlabel="length")
    problems = figure_problems(fig)
    assert any("no title" in p for p in problems)
    assert any("x label 'length' has no units" in p for p in problems)
    assert any("no y label" in p for p in problems)
    assert any("no legend" in p for p in problems)


def test_categories_need_no_units_and_colour_bars_are_legends():
    fig, (bars, image) = plt.subplots(1, 2)
    bars.barh(["sliding_window", "bigbird"], [0.5, 0.7], label="ratio")
    bars.set(title="ratio", xlabel="ratio to dense (fraction)", ylabel="pattern")
    bars.legend()
    shown = image.imshow(np.eye(3))
    image.set(title="weights", xlabel="key (token)", ylabel="query (token)")
    fig.colorbar(shown, ax=image, label="weight")
    problems = figure_problems(fig)
    assert problems == ["figure 1: colour bar label 'weight' has no units"]


def test_suptitle_figure_legend_and_empty_axes():
    fig = plot_patterns([SlidingWindow(2)] * 3, 16, ncols=2)  # one empty panel, legend on the figure
    fig.suptitle("masks")
    assert figure_problems(fig) == []
    assert open_figure_problems() == []


def test_stacked_tracks_share_the_x_label_and_title():
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True)
    for ax in (top, bottom):
        ax.plot([0, 1], [0, 1], label="x")
        ax.set_ylabel("value (units)")
        ax.legend()
    top.set_title("tracks")
    bottom.set_xlabel("position (nt)")
    assert figure_problems(fig) == []
    bottom.set_xlabel("")
    assert sum("no x label" in p for p in figure_problems(fig)) == 2


def test_grid_labelled_on_its_outer_panels():
    fig, axes = plt.subplots(2, 2, sharex=True, sharey=True)
    for i, ax in enumerate(axes.flat):
        ax.plot([0, 1], [0, 1], label="x")
        ax.set_title(f"panel {i}")
        ax.set(xlabel="key (token)", ylabel="query (token)")
        ax.label_outer()
    fig.legend()
    assert axes[0, 1].get_ylabel() == "" and figure_problems(fig) == []
