"""pareto_mask: cheaper-and-better points dominate; NaN never on the front."""

from __future__ import annotations

import numpy as np

from genoattn.bench.pareto import pareto_mask


def test_front():
    cost = np.array([1.0, 2.0, 3.0, 2.0, 4.0, np.nan, 1.0])
    score = np.array([0.6, 0.8, 0.7, 0.8, 0.9, 1.0, 0.5])
    # 0: cheapest best-at-its-cost; 1 and 3 tie (both kept); 2 is beaten by 1; 4 best score; 5 NaN; 6 beaten by 0
    assert pareto_mask(cost, score).tolist() == [True, True, False, True, True, False, False]


def test_empty():
    assert pareto_mask(np.zeros(0), np.zeros(0)).tolist() == []
