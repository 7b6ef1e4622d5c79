"""Bag-of-k-mers logistic regression on the motif-pair task: the composition shortcut check.

Features: frequencies of every k-mer, k in ``ks`` (default 1..6, 5,460 features), counted on both strands
(each k-mer's count plus its reverse complement's), standardised, then scikit-learn's LogisticRegression.
Trained on training windows of a :class:`~genoattn.data.motif_datamodule.MotifPairDataModule`, scored on its
test windows. On the motif-pair task it should stay near chance (the task's design: module doc of
:mod:`genoattn.data.motif_pairs`); :mod:`genoattn.baselines.motif_oracle` shows the labels are learnable.

Run: ``python -m genoattn.baselines.kmer_logreg --window 4096 --band [100,400] --train_windows 2048``
(prints the k-mer model's and the oracle's test metrics as JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from genoattn.data import vocab
from genoattn.data.motif_pairs import MotifPairWindows, pair_metrics

DEFAULT_KS = (1, 2, 3, 4, 5, 6)


def _rc_codes(k: int) -> np.ndarray:
    """Code of the reverse complement of every k-mer code (A,C,G,T = 0..3, first base most significant)."""
    codes = np.arange(4**k)
    powers = 4 ** np.arange(k - 1, -1, -1)
    digits = (codes[:, None] // powers) % 4  # [4**k, k]
    return ((3 - digits[:, ::-1]) * powers).sum(axis=1)


def kmer_counts(ids: np.ndarray, k: int) -> np.ndarray:
    """Counts of each k-mer on both strands, float32 [n, 4**k], for nucleotide ids [n, L]; k-mers with N skipped."""
    digits = ids.astype(np.int64) - vocab.A  # A..T -> 0..3, N -> 4
    n, length = digits.shape
    span = length - k + 1
    codes = np.zeros((n, span), dtype=np.int64)
    valid = np.ones((n, span), dtype=bool)
    for j in range(k):  # a loop over k-mer positions, not bases
        part = digits[:, j:j + span]
        codes = codes * 4 + np.minimum(part, 3)
        valid &= part < 4
    rows = np.broadcast_to(np.arange(n)[:, None] * 4**k, codes.shape)
    counts = np.bincount((rows + codes)[valid], minlength=n * 4**k).reshape(n, 4**k).astype(np.float32)
    return counts + counts[:, _rc_codes(k)]


def kmer_features(ids: np.ndarray, ks: Sequence[int] = DEFAULT_KS) -> np.ndarray:
    """K-mer frequencies for every k in ``ks``, concatenated: float32 [n, sum(4**k)]."""
    return np.concatenate([kmer_counts(ids, k) / max(1, ids.shape[1] - k + 1) for k in ks], axis=1)


def window_batches(windows: MotifPairWindows, n: int | None = None, batch: int = 64,
                   desc: str = "windows") -> Iterator[dict[str, np.ndarray]]:
    """The first ``n`` windows (default: all) of epoch 0, in batches (numpy dicts of MotifPairWindows.batch)."""
    n = windows.num_windows if n is None else min(n, windows.num_windows)
    for start in tqdm(range(0, n, batch), desc=desc, leave=False):
        yield windows.batch(np.arange(start, min(start + batch, n)), 0)


def fit_kmer_logreg(features: np.ndarray, labels: np.ndarray, c: float = 1.0, seed: int = 0) -> Pipeline:
    """Standardise, then L2 logistic regression."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))
    return model.fit(features, labels)


def evaluate_kmer_logreg(train: MotifPairWindows, test: MotifPairWindows, ks: Sequence[int] = DEFAULT_KS,
                         c: float = 1.0, train_windows: int | None = None) -> dict[str, float]:
    """Fit on training windows (epoch 0), score the test windows: :func:`pair_metrics` of the predictions."""

    def table(windows: MotifPairWindows, n: int | None, desc: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts = [(kmer_features(b["input_ids"], ks), b["labels"], b["kind"])
                 for b in window_batches(windows, n, desc=desc)]
        return tuple(np.concatenate(p) for p in zip(*parts))  # type: ignore[return-value]

    x_train, y_train, _ = table(train, train_windows, "k-mer features (train)")
    x_test, y_test, kind = table(test, None, "k-mer features (test)")
    model = fit_kmer_logreg(x_train, y_train, c=c)
    return pair_metrics(y_test, model.predict_proba(x_test)[:, 1], kind)


def main(window: int = 4096, band: tuple[int, int] = (100, 400), background: Literal["genome", "shuffle"] = "genome",
         kmax: int = 6, train_windows: int = 2048, test_windows: int = 1024, c: float = 1.0, seed: int = 0,
         motif_a: str = "MA2100.1", motif_b: str = "MA2335.1") -> dict[str, dict[str, float]]:
    """The k-mer logistic regression and the scanning oracle on one motif-pair task; prints JSON."""
    from genoattn.baselines.motif_oracle import evaluate_oracle
    from genoattn.data.motif_datamodule import MotifPairDataModule

    data = MotifPairDataModule(window=window, band=band, background=background, motif_a=motif_a, motif_b=motif_b,
                               train_windows_per_epoch=train_windows, val_windows=0, test_windows=test_windows,
                               seed=seed)
    data.setup()
    result = {"kmer_logreg": evaluate_kmer_logreg(data.windows["train"], data.windows["test"],
                                                  ks=tuple(range(1, kmax + 1)), c=c),
              "oracle": evaluate_oracle(data.windows["test"])}
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    from jsonargparse import CLI

    CLI(main, as_positional=False)
