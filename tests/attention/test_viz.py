"""viz: the drawn image is the pattern's mask (or block map for long sequences)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from genoattn.attention.patterns import BigBird, Longformer, Neighborhood, SlidingWindow  # noqa: E402
from genoattn.attention.viz import MAX_DENSE_LENGTH, differing_head, plot_pattern, plot_patterns  # noqa: E402
from genoattn.errors import InputError  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plot_pattern_draws_the_mask():
    pattern = Longformer(2, (0, -1), (1, 2))
    ax = plot_pattern(pattern, 24, head=1, block_size=8)
    image = np.asarray(ax.images[0].get_array())
    assert image.shape == (24, 24)
    np.testing.assert_array_equal(image, pattern.dense_mask(24, 2)[1].numpy().astype(np.uint8))
    assert len(ax.lines) == 4  # block edges at 8 and 16, horizontal and vertical
    assert "Longformer" in ax.get_title()


def test_plot_pattern_on_given_axes():
    fig, ax = plt.subplots()
    assert plot_pattern(SlidingWindow(3), 16, ax=ax) is ax
    np.testing.assert_array_equal(
        np.asarray(ax.images[0].get_array()), SlidingWindow(3).dense_mask(16)[0].numpy().astype(np.uint8)
    )


def test_long_sequences_are_drawn_per_block():
    length, block = MAX_DENSE_LENGTH * 4, 1024
    ax = plot_pattern(SlidingWindow(1024), length, block_size=block)
    image = np.asarray(ax.images[0].get_array())
    layout = SlidingWindow(1024).block_layout(length, block)
    assert image.shape == (16, 16)
    np.testing.assert_array_equal(image > 0, layout.dense_blocks()[0].numpy())
    assert image[5, 5] == 2 and image[5, 6] == 1 and image[5, 8] == 0  # full, partial, skipped


def test_plot_patterns_grid():
    patterns = [SlidingWindow(2), BigBird(4, 1), Neighborhood(5, 2)]
    fig = plot_patterns(patterns, 32, ncols=2)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 3
    for ax, pattern in zip(drawn, patterns):
        np.testing.assert_array_equal(
            np.asarray(ax.images[0].get_array()), pattern.dense_mask(32)[0].numpy().astype(np.uint8)
        )
    with pytest.raises(InputError):
        plot_patterns([], 8)
    with pytest.raises(InputError):
        plot_pattern(SlidingWindow(2), 8, head=-1)


def test_plots_have_units_and_a_legend():
    ax = plot_pattern(SlidingWindow(3), 16, block_size=8)
    assert ax.get_xlabel() == "key position j (token)" and ax.get_ylabel() == "query position i (token)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["visible (i sees j)", "masked", "block edge"]
    fig = plot_patterns([SlidingWindow(3), BigBird(4, 1, seed=0)], 32, head=[0, 1])
    assert len(fig.legends) == 1 and all(a.get_legend() is None for a in fig.axes)
    assert "head 1" in fig.axes[1].get_title()


def test_differing_head():
    assert differing_head(SlidingWindow(3), 16) is None
    assert differing_head(Longformer(2, (0,), (1, 1, 2)), 16, num_heads=3) == 2


def test_patterns_with_one_setting_per_head_take_num_heads():
    pattern = Longformer(2, (0,), (1, 1, 2, 2))
    ax = plot_pattern(pattern, 16, head=2, num_heads=4)
    np.testing.assert_array_equal(
        np.asarray(ax.images[0].get_array()), pattern.dense_mask(16, 4)[2].numpy().astype(np.uint8)
    )
    with pytest.raises(InputError, match="head must be in"):
        plot_pattern(pattern, 16, head=4, num_heads=4)
