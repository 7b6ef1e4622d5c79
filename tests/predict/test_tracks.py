"""Text writers: vectorised formatting against Python formatting; bedGraph runs and calls do not depend on chunking."""

from __future__ import annotations

import numpy as np
import pytest

from genoattn.inference.text import Choice, Fixed, Int, format_rows
from genoattn.inference.tracks import BedGraphTrack, IntervalCaller


def test_format_rows_matches_python():
    rng = np.random.default_rng(0)
    n = 3000
    starts = np.sort(rng.integers(0, 10**9, n))
    units = rng.integers(0, 123456, n)
    names = rng.integers(0, 3, n)
    text = format_rows([b"chr\t", Int(starts), b"\t", Fixed(units, 3), b"\t", Choice(names, (b"a", b"bb", b"")),
                        b"\n"], n)
    options = ["a", "bb", ""]
    expected = "".join(f"chr\t{s}\t{u // 1000}.{u % 1000:03d}\t{options[c]}\n" for s, u, c in zip(starts, units, names))
    assert text.decode() == expected
    runs = format_rows([Int(np.arange(95, 10005)), b"\n"], 9910)  # long runs of equal widths (sliced path)
    assert runs.decode() == "".join(f"{i}\n" for i in range(95, 10005))
    assert format_rows([Fixed(np.array([0, 7, 10]), 0), b"|"], 3) == b"0|7|10|"


def reference_bedgraph(values: np.ndarray, masked: np.ndarray, decimals: int) -> list[tuple[int, int, str]]:
    out = []
    for i, (v, m) in enumerate(zip(values, masked)):
        if m:
            continue
        text = f"{v:.{decimals}f}"
        if out and out[-1][1] == i and out[-1][2] == text:
            out[-1] = (out[-1][0], i + 1, text)
        else:
            out.append((i, i + 1, text))
    return out


def reference_calls(values, masked, threshold, merge_gap, min_length):
    runs, i = [], 0
    n = len(values)
    while i < n:
        if values[i] >= threshold and not masked[i]:
            j = i
            while j < n and values[j] >= threshold and not masked[j]:
                j += 1
            if runs and i - runs[-1][1] <= merge_gap and not masked[runs[-1][1]:i].any():
                runs[-1][1] = j
            else:
                runs.append([i, j])
            i = j
        else:
            i += 1
    return [(a, b, round(1000 * float(np.mean(values[a:b])))) for a, b in runs if b - a >= min_length]


def chunked(track_add, finish, values, masked, cuts):
    pieces = []
    bounds = [0, *cuts, len(values)]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        pieces.append(track_add(lo, values[lo:hi], masked[lo:hi]))
    pieces.append(finish())
    return pieces


@pytest.mark.parametrize("cuts", [[], [1], [17, 18, 300], list(range(5, 500, 7))])
def test_bedgraph_runs_independent_of_chunks(cuts):
    rng = np.random.default_rng(1)
    values = np.round(rng.random(500) * 4) / 4  # long runs of equal values
    values[100:140] = 0.3333
    masked = np.zeros(500, dtype=bool)
    masked[200:230] = True
    masked[499] = True
    track = BedGraphTrack("c", decimals=2)
    text = b"".join(chunked(track.add, track.finish, values, masked, cuts)).decode()
    expected = "".join(f"c\t{a}\t{b}\t{v}\n" for a, b, v in reference_bedgraph(values, masked, 2))
    assert text == expected


@pytest.mark.parametrize("merge_gap,min_length", [(0, 1), (3, 1), (3, 4), (50, 2)])
@pytest.mark.parametrize("cuts", [[], [10, 11, 250], list(range(3, 600, 13))])
def test_calls_independent_of_chunks(merge_gap, min_length, cuts):
    rng = np.random.default_rng(2)
    values = rng.random(600) ** 0.5
    masked = np.zeros(600, dtype=bool)
    masked[300:310] = True
    masked[:2] = True
    caller = IntervalCaller(0.7, merge_gap, min_length)
    parts = chunked(caller.add, caller.finish, values, masked, cuts)
    begin = np.concatenate([p[0] for p in parts])
    end = np.concatenate([p[1] for p in parts])
    mean = np.concatenate([p[2] for p in parts])
    got = [(int(a), int(b), round(1000 * float(m))) for a, b, m in zip(begin, end, mean)]
    assert got == reference_calls(values, masked, 0.7, merge_gap, min_length)
    assert not any(masked[a:b].any() for a, b, _ in got)  # no call inside an N run
