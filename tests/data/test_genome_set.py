"""GenomeDataModule over several genomes: joined contigs, per-genome splits, sampling weights, errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from genoattn.data import vocab
from genoattn.data.annotations import read_annotation
from genoattn.data.datamodule import GenomeDataModule
from genoattn.data.genome_set import GenomeSpec, JoinedSources, window_probabilities
from genoattn.data.labels import IntervalIndex, contig_labels
from genoattn.data.tokenizers import NucleotideTokenizer
from genoattn.errors import ConfigError

TOK = NucleotideTokenizer()


def write_genome(root: Path, name: str, lengths: dict[str, int], gc: float, seed: int) -> dict:
    """A random genome of the given GC content with CDS every 90 bp (alternating strands)."""
    rng = np.random.default_rng(seed)
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    seqs = {c: "".join(rng.choice(list("ACGT"), n, p=p)) for c, n in lengths.items()}
    with open(root / f"{name}.fa", "w") as fh:
        for c, s in seqs.items():
            fh.write(f">{c}\n" + "".join(s[i:i + 60] + "\n" for i in range(0, len(s), 60)))
    gff = ["##gff-version 3"]
    for c, n in lengths.items():
        for j, s in enumerate(range(10, n - 60, 90)):
            gff.append(f"{c}\tt\tCDS\t{s + 1}\t{s + 45}\t.\t{'+-'[j % 2]}\t0\tID={c}_{j}")
    (root / f"{name}.gff3").write_text("\n".join(gff) + "\n")
    return {"fasta": str(root / f"{name}.fa"), "annotation": str(root / f"{name}.gff3"), "seqs": seqs}


@pytest.fixture(scope="module")
def two_genomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("genomes")
    rich = write_genome(root, "rich", {f"r{i}": 400 + 50 * i for i in range(5)}, gc=0.7, seed=1)
    poor = write_genome(root, "poor", {"p0": 900, "p1": 300}, gc=0.3, seed=2)
    return {"rich": rich, "poor": poor, "cache": str(root / "cache")}


def make(two_genomes, **kwargs) -> GenomeDataModule:
    genomes = [
        {"name": "rich", "fasta": two_genomes["rich"]["fasta"], "annotation": two_genomes["rich"]["annotation"]},
        {"name": "poor", "fasta": two_genomes["poor"]["fasta"], "annotation": two_genomes["poor"]["annotation"],
         "role": "train"},
    ]
    args = dict(genomes=genomes, window=64, stride=32, batch_size=4, holdout_every=2, val_fraction=0.0,
                train_windows_per_epoch=16, cache_dir=two_genomes["cache"])
    args.update(kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dm = GenomeDataModule(**args)
        dm.setup("fit")
    return dm


def test_each_genome_is_split_on_its_own_and_joined(two_genomes):
    dm = make(two_genomes)
    assert dm.genome_names == ["rich", "poor"] and dm.is_joined
    # holdout_every=2 on rich's sorted contigs (r0, r2, r4 held out); poor trains whole
    assert dm.splits["test"] == ["rich:r0", "rich:r2", "rich:r4"]
    assert dm.splits["train"] == ["rich:r1", "rich:r3", "poor:p0", "poor:p1"]
    assert dm.contig_lengths["poor:p0"] == 900 and dm.contig_lengths["rich:r3"] == 550
    assert isinstance(dm.sequences, JoinedSources)
    assert dm.stats()["genomes"] == ["rich", "poor"]


def test_a_test_genome_is_held_out_whole_and_never_drawn_for_training(two_genomes):
    dm = make(two_genomes, genomes=[
        {"name": "rich", "fasta": two_genomes["rich"]["fasta"], "annotation": two_genomes["rich"]["annotation"]},
        {"name": "poor", "fasta": two_genomes["poor"]["fasta"], "annotation": two_genomes["poor"]["annotation"],
         "role": "test", "weight": 5.0}], train_windows_per_epoch=200, batch_size=50)
    assert dm.splits["test"] == ["rich:r0", "rich:r2", "rich:r4", "poor:p0", "poor:p1"]
    assert dm.splits["train"] == ["rich:r1", "rich:r3"]
    assert all((b["genome"] == 0).all() for b in dm.train_dataloader())
    assert {int(g) for b in dm.test_dataloader() for g in b["genome"]} == {0, 1}


@pytest.mark.parametrize("in_memory", [True, False])
def test_batches_read_each_row_from_its_own_genome(two_genomes, in_memory):
    dm = make(two_genomes, in_memory=in_memory, holdout_every=None, test_fraction=0.0,
              genomes=[{"name": "rich", "fasta": two_genomes["rich"]["fasta"],
                        "annotation": two_genomes["rich"]["annotation"]},
                       {"name": "poor", "fasta": two_genomes["poor"]["fasta"],
                        "annotation": two_genomes["poor"]["annotation"]}],
              val_contigs=["poor:p0", "rich:r1"])
    truth = {}
    for g in ("rich", "poor"):
        index = IntervalIndex(read_annotation(two_genomes[g]["annotation"], ["CDS"]))
        lengths = {c: len(s) for c, s in two_genomes[g]["seqs"].items()}
        truth.update({f"{g}:{c}": v for c, v in contig_labels(index, lengths, "binary").items()})
    seen = set()
    for batch in dm.val_dataloader():
        for row, contig, start, genome in zip(batch["input_ids"], batch["contig"], batch["start"].tolist(),
                                              batch["genome"].tolist()):
            name, local = contig.split(":")
            assert dm.genome_names[genome] == name
            assert TOK.decode(row.numpy()) == two_genomes[name]["seqs"][local][start:start + 64]
            seen.add(name)
        for labels, contig, start in zip(batch["labels"], batch["contig"], batch["start"].tolist()):
            assert labels.tolist() == truth[contig][start:start + 64].tolist()
    assert seen == {"rich", "poor"}


def test_weights_set_each_genomes_share_of_training_windows(two_genomes):
    dm = make(two_genomes, train_windows_per_epoch=4000, batch_size=100,
              genomes=[{"name": "rich", "fasta": two_genomes["rich"]["fasta"],
                        "annotation": two_genomes["rich"]["annotation"], "weight": 1.0},
                       {"name": "poor", "fasta": two_genomes["poor"]["fasta"],
                        "annotation": two_genomes["poor"]["annotation"], "weight": 3.0, "role": "train"}])
    genomes = np.concatenate([b["genome"].numpy() for b in dm.train_dataloader()])
    assert len(genomes) == 4000 and abs((genomes == 1).mean() - 0.75) < 0.03
    tiles = np.bincount(dm.contig_genome[dm.windows["train"].contig_index])  # [2] training tiles per genome
    p = window_probabilities(np.repeat([0, 1], tiles), [1.0, 3.0])
    assert p.sum() == pytest.approx(1.0) and p[-1] / p[0] == pytest.approx(3 * tiles[0] / tiles[1])
    assert window_probabilities(np.repeat([0, 1], [5, 5]), [2.0, 2.0]) is None  # a uniform draw


def test_one_genome_form_keeps_contig_names_and_batches_have_no_genome_key(two_genomes):
    dm = GenomeDataModule(two_genomes["rich"]["fasta"], two_genomes["rich"]["annotation"], window=64,
                          holdout_every=2, val_fraction=0.0, cache_dir=two_genomes["cache"])
    dm.setup("fit")
    assert not dm.is_joined and dm.genome_names == ["rich"] and dm.splits["test"] == ["r0", "r2", "r4"]
    assert "genome" not in next(iter(dm.test_dataloader()))


def test_genome_spec_feature_types_override_the_default(two_genomes, tmp_path):
    gff = Path(two_genomes["poor"]["annotation"]).read_text().replace("\tCDS\t", "\tgene\t")
    (tmp_path / "genes.gff3").write_text(gff)
    dm = make(two_genomes, genomes=[
        {"name": "rich", "fasta": two_genomes["rich"]["fasta"], "annotation": two_genomes["rich"]["annotation"]},
        GenomeSpec("poor", two_genomes["poor"]["fasta"], str(tmp_path / "genes.gff3"), feature_types=["gene"],
                   role="train")])
    labels = dm.nucleotide_label_source.gather(np.array([5]), np.array([0]), 64)[0]  # poor:p0
    assert dm.sequences.contig_names[5] == "poor:p0" and labels[10:55].tolist() == [1] * 45
    assert labels[0] == 0 and (labels != vocab.IGNORE_INDEX).all()


@pytest.mark.parametrize("change, message", [
    ({"fasta": "x.fa", "genomes": [{"name": "a", "fasta": "x.fa", "annotation": "x"}]},
     "either fasta/annotation or genomes"),
    ({}, "give a FASTA file"),
    ({"genomes": []}, "at least one genome"),
    ({"genomes": [{"name": "a", "fasta": "x.fa", "annotation": "x.gff"}] * 2}, "used twice"),
    ({"genomes": [{"name": "a:b", "fasta": "x.fa", "annotation": "x.gff"}]}, "genomes\\[0\\].name"),
    ({"genomes": [{"name": "a", "fasta": "x.fa", "annotation": "x.gff", "weight": 0}]}, "weight"),
    ({"genomes": [{"name": "a", "fasta": "x.fa", "annotation": "x.gff", "role": "eval"}]}, "role"),
    ({"genomes": [{"name": "b", "fasta": "y.fa", "annotation": "y"}, {"name": "a", "fasta": "x.fa"}]},
     "genome 'a' has none"),
    ({"genomes": [{"name": "a", "fasta": "x.fa", "colour": "red"}]}, "each genome is a mapping"),
    ({"genomes": [{"name": "a", "fasta": "x.fa", "annotation": "x"},
                  {"name": "b", "fasta": "y.fa", "annotation": "y"}]}, "need train_windows_per_epoch"),
])
def test_bad_genome_lists_fail_with_one_line(change, message):
    with pytest.raises(ConfigError, match=message):
        GenomeDataModule(**{"genomes": None, **change})


def test_contig_names_of_a_joined_split_must_name_a_genome(two_genomes):
    with pytest.raises(ConfigError, match="'<genome>:<contig>'"):
        make(two_genomes, holdout_every=None, test_contigs=["r0"])


def test_composition_augment_changes_training_sequences_only(two_genomes):
    plain = make(two_genomes, rc_augment=False)
    shifted = make(two_genomes, rc_augment=False, composition_augment=1.0)
    a, b = next(iter(plain.train_dataloader())), next(iter(shifted.train_dataloader()))
    assert a["contig"] == b["contig"] and torch.equal(a["labels"], b["labels"])
    assert not torch.equal(a["input_ids"], b["input_ids"])
    for x, y in zip(plain.test_dataloader(), shifted.test_dataloader(), strict=True):
        assert torch.equal(x["input_ids"], y["input_ids"])
    with pytest.raises(ConfigError, match="composition_augment"):
        make(two_genomes, task="mlm", composition_augment=0.5)
