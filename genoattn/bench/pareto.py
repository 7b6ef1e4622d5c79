"""The Pareto front of a cost/quality trade-off: the points no other point beats on both (cheaper and better)."""

from __future__ import annotations

import numpy as np


def pareto_mask(cost: np.ndarray, score: np.ndarray) -> np.ndarray:
    """bool [n]: True for points on the front when lower ``cost`` and higher ``score`` are better.

    A point is on the front unless another point has cost <= and score >= with at least one strictly better;
    NaN points are never on it. Among exact duplicates every copy is kept."""
    cost, score = np.asarray(cost, dtype=float), np.asarray(score, dtype=float)
    valid = ~(np.isnan(cost) | np.isnan(score))
    c, s = cost[:, None], score[:, None]  # [n, 1] against [1, n]: does point j dominate point i?
    dominated = (cost[None, :] <= c) & (score[None, :] >= s) & ((cost[None, :] < c) | (score[None, :] > s))
    dominated &= valid[None, :]
    return valid & ~dominated.any(axis=1)
