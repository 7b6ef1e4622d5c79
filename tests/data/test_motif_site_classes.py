"""Token labels with site classes: every base labelled (background, paired B, A site, unpaired B)."""

from pathlib import Path

import numpy as np
import pytest

from genoattn.data import vocab
from genoattn.data.motif_datamodule import MotifPairDataModule
from genoattn.data.motif_pairs import (
    A_SITE,
    BACKGROUND,
    MOTIF_A,
    PAIRED_B,
    SITE_CLASSES,
    SITE_PRESENCE,
    UNPAIRED_B,
    MotifPairWindows,
    b_site_targets,
    band_layout,
)
from genoattn.data.motifs import pick_motif, read_motifs
from genoattn.errors import ConfigError

JASPAR = Path(__file__).resolve().parents[2] / "data" / "motifs" / "jaspar2024_pairs.jaspar"


@pytest.fixture(scope="module")
def motifs():
    found = read_motifs(JASPAR)
    return pick_motif(found, "MA2100.1"), pick_motif(found, "MA2335.1")


def windows(motifs, **kwargs) -> MotifPairWindows:
    background = np.random.default_rng(1).integers(vocab.A, vocab.T + 1, size=50_000).astype(np.uint8)
    layout = band_layout((100, 400), 1024, (motifs[0].length, motifs[1].length))
    return MotifPairWindows(background, motifs, layout, 48, level="token", **kwargs)


def test_every_base_gets_its_site_class_and_the_b_sites_match_the_binary_labels(motifs):
    classes = windows(motifs, site_classes=True).batch(np.arange(48))
    binary = windows(motifs).batch(np.arange(48))
    assert (classes["input_ids"] == binary["input_ids"]).all()  # same windows, other labels
    labels = classes["labels"]
    assert set(np.unique(labels)) == {BACKGROUND, PAIRED_B, A_SITE, UNPAIRED_B}
    assert SITE_CLASSES[PAIRED_B] == "paired_b_site"
    for i in range(48):
        expected = np.full(1024, BACKGROUND)
        for motif_id, pos in zip(classes["site_motif"][i], classes["site_pos"][i]):
            length = motifs[motif_id].length
            if motif_id == MOTIF_A:
                expected[pos:pos + length] = A_SITE
            else:
                expected[pos:pos + length] = PAIRED_B if binary["labels"][i, pos] == 1 else UNPAIRED_B
        assert (labels[i] == expected).all()
    keep_c, paired_c = b_site_targets(labels, site_classes=True)
    keep_b, paired_b = b_site_targets(binary["labels"], site_classes=False)
    assert (keep_c == keep_b).all() and (paired_c == paired_b).all() and paired_c.any() and (keep_c & ~paired_c).any()


def test_site_classes_need_token_level(motifs):
    with pytest.raises(ConfigError, match="site_classes"):
        windows(motifs, site_classes=True).__class__(
            np.zeros(2000, np.uint8) + vocab.A, motifs, band_layout((100, 400), 1024, (18, 29)), 4,
            level="sequence", site_classes=True)
    with pytest.raises(ConfigError, match="site_classes"):
        MotifPairDataModule(window=1024, level="sequence", site_classes=True)
    assert MotifPairDataModule(window=1024, level="token", site_classes=True).num_classes == 4


def test_window_level_site_labels_mark_every_site_without_its_pairing(motifs):
    background = np.random.default_rng(1).integers(vocab.A, vocab.T + 1, size=50_000).astype(np.uint8)
    layout = band_layout((100, 400), 1024, (motifs[0].length, motifs[1].length))
    plain = MotifPairWindows(background, motifs, layout, 48, level="sequence").batch(np.arange(48))
    batch = MotifPairWindows(background, motifs, layout, 48, level="sequence", site_labels=True).batch(np.arange(48))
    assert "site_labels" not in plain and (batch["input_ids"] == plain["input_ids"]).all()
    assert (batch["labels"] == plain["labels"]).all() and set(np.unique(batch["labels"])) == {0, 1}
    sites = batch["site_labels"]
    assert sites.shape == (48, 1024) and set(np.unique(sites)) == {0, 1, 2}
    assert SITE_PRESENCE == ("background", "a_site", "b_site")
    for i in range(48):
        expected = np.zeros(1024, dtype=np.int8)
        for motif_id, pos in zip(batch["site_motif"][i], batch["site_pos"][i]):
            expected[pos:pos + motifs[motif_id].length] = 1 + motif_id  # the same for paired and unpaired
        assert (sites[i] == expected).all()
    with pytest.raises(ConfigError, match="site_labels"):
        MotifPairWindows(background, motifs, layout, 4, level="token", site_labels=True)
    with pytest.raises(ConfigError, match="site_labels"):
        MotifPairDataModule(window=1024, level="token", site_labels=True)
    data = MotifPairDataModule(window=1024, level="sequence", site_labels=True)
    assert data.site_label_classes == 3 and data.num_classes == 2
    assert MotifPairDataModule(window=1024, level="sequence").site_label_classes == 0
