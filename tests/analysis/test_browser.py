"""browser: the region figure has its three tracks, arrows per strand, calls, and follows the figure conventions."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from genoattn.analysis.browser import MINUS, PLUS, draw_features, plot_region  # noqa: E402
from genoattn.analysis.figures import figure_problems  # noqa: E402
from genoattn.errors import InputError  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_region_figure():
    probability = np.linspace(0, 1, 200)
    probability[50:60] = np.nan
    features = {"start": np.array([90, 150, 250]), "end": np.array([180, 260, 400]),
                "strand": np.array([PLUS, MINUS, PLUS])}
    fig = plot_region("chr1", 100, 300, probability, features, [(120, 140), (500, 600)], feature_name="CDS")
    ax_p, ax_f, ax_c = fig.axes
    assert len(ax_f.patches) == 3  # all three overlap the region
    assert len(ax_c.patches) == 1  # the call outside the region is not drawn
    assert ax_c.get_xlim() == (100, 300) and ax_c.get_xlabel() == "position on chr1 (nt)"
    assert figure_problems(fig) == []


def test_arrows_point_along_the_strand():
    fig, ax = plt.subplots()
    assert draw_features(ax, [10, 10], [20, 20], [PLUS, MINUS], y=0, colour="k", clip=(0, 15)) == 2
    plus, minus = ax.patches
    assert plus.get_path().vertices[:, 0].max() <= 15 and minus.get_path().vertices[:, 0].min() >= 10


def test_bad_probability_length():
    with pytest.raises(InputError, match="3 probabilities for a region of 5 nt"):
        plot_region("c", 0, 5, np.zeros(3), {"start": [], "end": [], "strand": []}, [])
