"""Baselines of the motif-pair task: the bag-of-k-mers model stays near chance, the scanning oracle does not."""

from pathlib import Path

import numpy as np
import pytest

from genoattn.baselines.kmer_logreg import (
    evaluate_kmer_logreg,
    fit_kmer_logreg,
    kmer_counts,
    kmer_features,
    window_batches,
)
from genoattn.baselines.motif_oracle import best_sites, evaluate_oracle
from genoattn.data import vocab
from genoattn.data.motif_datamodule import MotifPairDataModule
from genoattn.data.motif_pairs import MOTIF_A
from genoattn.data.tokenizers import encode_nucleotides

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def task() -> MotifPairDataModule:
    dm = MotifPairDataModule(fasta=str(ROOT / "data/ecoli_prokka/genome.fa.gz"),
                             motifs=str(ROOT / "data/motifs/jaspar2024_pairs.jaspar"), window=1024, band=(100, 400),
                             train_windows_per_epoch=960, val_windows=0, test_windows=480, seed=0)
    dm.setup()
    return dm


def test_kmer_counts_cover_both_strands():
    ids = encode_nucleotides("AACGTN")[None]
    counts = kmer_counts(ids, 2)  # AA AC CG GT (TN skipped) + their reverse complements TT GT CG AC
    index = {a + b: 4 * "ACGT".index(a) + "ACGT".index(b) for a in "ACGT" for b in "ACGT"}
    assert counts[0, index["AA"]] == 1 and counts[0, index["TT"]] == 1
    assert counts[0, index["AC"]] == 2 and counts[0, index["GT"]] == 2 and counts[0, index["CG"]] == 2
    assert counts.sum() == 8
    assert kmer_features(np.full((2, 50), vocab.A, np.uint8), ks=(1, 2, 3)).shape == (2, 4 + 16 + 64)


def test_kmer_logreg_stays_near_chance_and_the_oracle_does_not(task):
    kmer = evaluate_kmer_logreg(task.windows["train"], task.windows["test"])
    assert abs(kmer["auroc"] - 0.5) < 0.1 and abs(kmer["pair_auroc"] - 0.5) < 0.1, kmer
    oracle = evaluate_oracle(task.windows["test"])
    assert oracle["auroc"] > 0.98 and oracle["pair_auroc"] > 0.98, oracle


def test_kmer_logreg_does_learn_what_composition_shows(task):
    """Control: the same features find whether a window holds an A site (only (B, B) windows lack one)."""
    def table(windows, n):
        batches = list(window_batches(windows, n))
        x = np.concatenate([kmer_features(b["input_ids"]) for b in batches])
        y = np.concatenate([(b["site_motif"] == MOTIF_A).any(axis=1) for b in batches]).astype(int)
        return x, y

    from sklearn.metrics import roc_auc_score

    x_train, y_train = table(task.windows["train"], None)
    x_test, y_test = table(task.windows["test"], None)
    model = fit_kmer_logreg(x_train, y_train)
    assert roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]) > 0.9


def test_oracle_finds_the_recorded_sites(task):
    batch = task.windows["test"].batch(np.arange(48))
    sites = best_sites(batch["input_ids"], task.motifs)
    assert (sites["pos"] == batch["site_pos"]).mean() > 0.97
    assert (sites["strand"] == batch["site_strand"]).mean() > 0.97
    assert (sites["motif"] == batch["site_motif"]).mean() > 0.97
