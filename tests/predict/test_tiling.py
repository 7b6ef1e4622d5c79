"""Tiling: kept parts cover each contig once, windows are aligned and keep the context; N masks; contexts."""

from __future__ import annotations

import numpy as np
import pytest

from genoattn.data import vocab
from genoattn.errors import ConfigError
from genoattn.inference.plan import BatchPlanner, Tile
from genoattn.inference.tiling import (
    check_context,
    choose_context,
    n_mask,
    round_up,
    sequence_tiles,
    stitch_tiles,
)


@pytest.mark.parametrize("length", [1, 3, 63, 64, 65, 100, 255, 256, 257, 1000, 1001, 4099])
@pytest.mark.parametrize("window,context,align", [(64, 16, 4), (64, 0, 1), (256, 60, 4), (96, 24, 3)])
def test_stitch_tiles_cover_once_with_context(length, window, context, align):
    tiles = stitch_tiles(length, window, context, align)
    padded = round_up(length, align)
    assert np.array_equal(tiles.keep_start[1:], tiles.keep_end[:-1])  # consecutive
    assert tiles.keep_start[0] == 0 and tiles.keep_end[-1] == length  # cover [0, L) once
    assert (tiles.keep_end > tiles.keep_start).all()
    assert (tiles.start % align == 0).all() and tiles.length % align == 0
    end = tiles.start + tiles.length
    assert (tiles.start >= 0).all() and (end <= max(padded, align)).all()
    if padded <= window:  # short contig: one window of its own padded length
        assert len(tiles) == 1 and tiles.length == max(padded, align)
        return
    assert tiles.length == window
    # every kept base has `context` bases of the window on both sides, unless the window touches a contig end
    left_ok = (tiles.keep_start - tiles.start >= context) | (tiles.start == 0)
    right_ok = (end - tiles.keep_end >= context) | (end == padded)
    assert left_ok.all() and right_ok.all()


def test_sequence_tiles_stride_and_last_window():
    tiles = sequence_tiles(1000, 256, 256)
    assert tiles.start.tolist() == [0, 256, 512, 744]  # the last one ends at the contig end
    assert (tiles.keep_end - tiles.start == 256).all()
    short = sequence_tiles(37, 256, 256, align=4)
    assert short.length == 40 and short.keep_end.tolist() == [37]


def test_n_mask_runs():
    ids = np.array([4, 8, 5, 8, 8, 8, 6, 8, 8], dtype=np.uint8)
    assert n_mask(ids, 1).tolist() == (ids == vocab.N).tolist()
    assert n_mask(ids, 2).tolist() == [False, False, False, True, True, True, False, True, True]
    assert n_mask(ids, 3).tolist() == [False, False, False, True, True, True, False, False, False]


def test_choose_context():
    assert choose_context(4096, 4, 1041) == (1044, None)
    context, warning = choose_context(1024, 4, 1041)  # does not fit: capped, with a note
    assert context < 1041 and "does not fit" in warning
    context, warning = choose_context(4096, 4, None)
    assert context == 1024 and "unbounded" in warning
    assert check_context(5, 64, 4) == 8
    with pytest.raises(ConfigError, match="no kept part"):
        check_context(32, 64, 4)


def test_batch_planner_cursor_reproduces_layout():
    """Starting from a recorded cursor with dummy rows gives the same batches as the uninterrupted stream."""
    def stream(planner, items):
        batches = []
        for length, key in items:
            batches += planner.row(length, key, lambda r, key=key, length=length: Tile(r, key, key + 1, 0, length))
        return batches + planner.flush()

    items = [(64, i) for i in range(7)] + [(32, 100), (64, 200), (64, 201)]
    full = stream(BatchPlanner(3), items)
    planner = BatchPlanner(3)
    stream_head = []
    for length, key in items[:4]:
        stream_head += planner.row(length, key, lambda r, key=key, length=length: Tile(r, key, key + 1, 0, length))
    cursor = planner.cursor
    resumed_planner = BatchPlanner(3)
    resumed = resumed_planner.start_input(cursor) + stream(resumed_planner, items[4:])
    layout = [[(r, b.length) for r in b.rows] for b in full]
    layout_resumed = [[(r, b.length) for r in b.rows] for b in resumed]
    # the resumed batches are the full run's batches from the one holding item 4 on (dummy rows first)
    first = next(i for i, b in enumerate(full) if 4 in b.rows)
    assert [[(r if r is None or r >= 4 else None, n) for r, n in rows] for rows in layout[first:]] == layout_resumed
