import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from genoattn.data import vocab
from genoattn.data.annotations import Interval, read_annotation
from genoattn.data.datamodule import GenomeDataModule
from genoattn.data.datasets import widen_batch
from genoattn.data.labels import IntervalIndex, contig_labels, reverse_complement_labels
from genoattn.data.tokenizers import NucleotideTokenizer
from genoattn.errors import ConfigError, InputError

ECOLI = Path(__file__).resolve().parents[2] / "data" / "ecoli_prokka"
LENGTHS = {"chr1": 700, "chr2": 530, "chr3": 410, "chr4": 300, "chr5": 260, "chr6": 200, "tiny": 40}
TOK = NucleotideTokenizer()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A small random genome (with a run of N) and a GFF3 of CDS on both strands plus 'gene' features."""
    root = tmp_path_factory.mktemp("genome")
    rng = np.random.default_rng(0)
    seqs = {c: "".join(rng.choice(list("ACGTacgt"), n)) for c, n in LENGTHS.items()}
    seqs["chr2"] = seqs["chr2"][:100] + "N" * 80 + seqs["chr2"][180:]
    with open(root / "g.fa", "w") as fh:
        for c, s in seqs.items():
            fh.write(f">{c} synthetic\n" + "".join(s[i:i + 60] + "\n" for i in range(0, len(s), 60)))
    lines, cds = ["##gff-version 3"], []
    for c, n in LENGTHS.items():
        for j, s in enumerate(range(5, n - 60, 70)):
            e = s + int(rng.integers(20, 60))
            strand, phase = ("+" if j % 2 else "-"), int(rng.integers(0, 3))
            lines.append(f"{c}\ttest\tCDS\t{s + 1}\t{e}\t.\t{strand}\t{phase}\tID={c}_{j}")
            lines.append(f"{c}\ttest\tgene\t{s + 1}\t{e + 5}\t.\t{strand}\t.\tID=g{c}_{j}")
            cds.append(Interval(c, s, e, strand=strand, feature="CDS", phase=phase))
    (root / "a.gff3").write_text("\n".join(lines) + "\n")
    bed = "".join(f"{iv.contig}\t{iv.start}\t{iv.end}\tr\t{(iv.end - iv.start) / 10}\t{iv.strand}\n" for iv in cds)
    (root / "scores.bed").write_text(bed)
    return {"fasta": str(root / "g.fa"), "gff": str(root / "a.gff3"), "bed": str(root / "scores.bed"),
            "seqs": {c: s.upper() for c, s in seqs.items()}, "cds": cds, "cache": str(root / "cache")}


def make(synthetic, **kwargs):
    args = dict(fasta=synthetic["fasta"], annotation=synthetic["gff"], window=64, stride=32, batch_size=4,
                test_contigs=["chr3"], val_contigs=["chr6"], cache_dir=synthetic["cache"])
    args.update(kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short-contig warnings
        dm = GenomeDataModule(**args)
        dm.setup("fit")
    return dm


def batches(loader):
    return [b for b in loader]


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            if isinstance(x[key], torch.Tensor):
                assert x[key].dtype == y[key].dtype and torch.equal(x[key], y[key]), key
            else:
                assert x[key] == y[key], key


def test_token_batches_follow_sequence_and_labels_through_rc_and_shift(synthetic):
    dm = make(synthetic, label_mode="frame", rc_augment=True, shift_augment=7)
    assert dm.num_classes == 7 and dm.vocab_size == 9 and dm.tokens_per_window == 64
    truth = contig_labels(IntervalIndex(synthetic["cds"]), LENGTHS, "frame")
    strands = set()
    for batch in batches(dm.train_dataloader()):
        assert batch["input_ids"].dtype == torch.int64 and batch["input_ids"].shape == (4, 64)
        assert batch["labels"].dtype == torch.int64 and batch["labels"].shape == (4, 64)
        assert batch["start"].dtype == torch.int64
        for row, (contig, start, strand) in enumerate(zip(batch["contig"], batch["start"].tolist(), batch["strand"])):
            assert contig not in ("chr3", "chr6")
            ids = TOK.encode(synthetic["seqs"][contig][start:start + 64])
            lab = truth[contig][start:start + 64]
            if strand == "-":
                ids, lab = TOK.reverse_complement(ids), reverse_complement_labels(lab, "frame")
            assert batch["input_ids"][row].tolist() == ids.tolist()
            assert batch["labels"][row].tolist() == lab.tolist()
            strands.add(strand)
    assert strands == {"+", "-"}


def test_in_memory_and_per_window_reading_give_the_same_batches(synthetic):
    for task, extra in (("token_classification", {"label_mode": "strand"}), ("mlm", {"annotation": None})):
        a = make(synthetic, task=task, in_memory=True, rc_augment=True, shift_augment=3, **extra)
        b = make(synthetic, task=task, in_memory=False, rc_augment=True, shift_augment=3, **extra)
        assert a.is_in_memory and not b.is_in_memory
        assert_same_batches(batches(a.train_dataloader()), batches(b.train_dataloader()))
        assert_same_batches(batches(a.val_dataloader()), batches(b.val_dataloader()))


def test_same_seed_same_batches_across_workers_and_epochs(synthetic):
    kwargs = dict(rc_augment=True, shift_augment=4, train_windows_per_epoch=24)
    a = make(synthetic, seed=3, **kwargs).train_dataloader()
    first, second = batches(a), batches(a)
    assert_same_batches(first, batches(make(synthetic, seed=3, **kwargs).train_dataloader()))
    with_workers = batches(make(synthetic, seed=3, num_workers=2, **kwargs).train_dataloader())
    assert with_workers[0]["input_ids"].dtype == torch.int64 and with_workers[0]["labels"].dtype == torch.int64
    assert_same_batches(first, with_workers)
    assert not torch.equal(first[0]["input_ids"], second[0]["input_ids"])  # the next epoch differs
    a.sampler.set_epoch(0)  # as Lightning does: epoch 0 again gives the first epoch's batches
    assert_same_batches(first, batches(a))
    other = batches(make(synthetic, seed=4, **kwargs).train_dataloader())
    assert not torch.equal(first[0]["input_ids"], other[0]["input_ids"])
    val = make(synthetic, seed=3, task="mlm", annotation=None).val_dataloader()
    assert_same_batches(batches(val), batches(val))  # evaluation (MLM masks included) is fixed


def test_random_training_windows_stay_in_training_contigs_and_skip_n(synthetic):
    dm = make(synthetic, train_windows_per_epoch=40, batch_size=8, max_n_fraction=0.2, jitter=20)
    loader = dm.train_dataloader()
    assert len(loader) == 5
    seen = set()
    for batch in batches(loader):
        for contig, start in zip(batch["contig"], batch["start"].tolist()):
            assert contig in dm.splits["train"] and 0 <= start <= LENGTHS[contig] - 64
            assert synthetic["seqs"][contig][start:start + 64].count("N") <= 0.2 * 64
            seen.add((contig, start))
    assert len(seen) > 20
    assert len(make(synthetic, batch_size=500).train_dataloader()) == 1  # fewer windows than a batch: one batch


def test_splits_hold_whole_contigs_and_describe(synthetic):
    dm = make(synthetic, test_contigs=None, val_contigs=None, holdout_every=3, val_fraction=0.2)
    names = sorted(LENGTHS)
    assert set(dm.splits["test"]) == {names[i] for i in range(0, len(names), 3)}
    for split in ("val", "test"):
        assert not set(dm.splits[split]) & set(dm.splits["train"])
        for batch in batches(getattr(dm, f"{split}_dataloader")()):
            assert set(batch["contig"]) <= set(dm.splits[split])
    text = dm.describe()
    assert "7 contigs" in text and "train" in text and "class_1=" in text
    stats = dm.stats()
    assert sum(s["contigs"] for s in stats["splits"].values()) == len(LENGTHS)
    assert stats["splits"]["test"]["windows"] == len(dm.windows["test"])


def test_kmer_tokens_take_the_label_of_their_middle_base(synthetic):
    dm = make(synthetic, tokenizer="kmer", k=4)
    assert dm.vocab_size == 5 + 256 and dm.tokens_per_window == 16
    truth = contig_labels(IntervalIndex(synthetic["cds"]), LENGTHS, "binary")
    batch = next(iter(dm.val_dataloader()))
    assert batch["input_ids"].shape == (4, 16) and batch["labels"].shape == (4, 16)
    contig, start = batch["contig"][0], int(batch["start"][0])
    assert batch["input_ids"][0].tolist() == dm.tokenizer.encode(synthetic["seqs"][contig][start:start + 64]).tolist()
    assert batch["labels"][0].tolist() == truth[contig][start + 2:start + 64:4].tolist()


def test_sequence_classification_regression_and_mlm(synthetic):
    seq = make(synthetic, task="sequence_classification", feature_types=["gene"], min_overlap=0.5)
    b = next(iter(seq.train_dataloader()))
    assert b["labels"].shape == (4,) and b["labels"].dtype == torch.int64 and seq.num_classes == 2
    genes = IntervalIndex(read_annotation(synthetic["gff"], ["gene"]))
    from genoattn.data.labels import window_overlap_labels

    expect = [int(window_overlap_labels(genes, c, np.array([s]), 64, 0.5)[0])
              for c, s in zip(b["contig"], b["start"].tolist())]
    assert b["labels"].tolist() == expect
    reg = make(synthetic, task="regression", annotation=synthetic["bed"])
    b = next(iter(reg.train_dataloader()))
    assert b["labels"].dtype == torch.float32 and b["labels"].shape == (4,) and reg.num_classes == 1
    assert "mean=" in reg.describe()
    mlm = make(synthetic, task="mlm", annotation=None)
    b = next(iter(mlm.train_dataloader()))
    assert mlm.num_classes == 9 and b["labels"].shape == (4, 64)
    chosen = b["labels"] != vocab.IGNORE_INDEX
    assert chosen.any() and (b["input_ids"][chosen] == vocab.MASK).any()


def test_predict_loader_covers_every_base_with_padding(synthetic):
    dm = make(synthetic, window=128, stride=None)
    dm.setup("predict")
    covered = {c: np.zeros(n, bool) for c, n in LENGTHS.items()}
    for batch in batches(dm.predict_dataloader()):
        assert "labels" not in batch
        for row, (c, s, n) in enumerate(zip(batch["contig"], batch["start"].tolist(), batch["length"].tolist())):
            covered[c][s:s + n] = True
            assert (batch["input_ids"][row, n:] == vocab.PAD).all()
    assert all(v.all() for v in covered.values())


def test_padded_short_contigs_get_ignored_labels(synthetic):
    dm = make(synthetic, window=64, short_contigs="pad", test_contigs=["tiny"], val_contigs=["chr6"])
    batch = next(iter(dm.test_dataloader()))
    assert batch["contig"] == ["tiny"] and batch["length"].tolist() == [40]
    assert (batch["labels"][0, 40:] == vocab.IGNORE_INDEX).all() and (batch["input_ids"][0, 40:] == vocab.PAD).all()


@pytest.mark.parametrize("kwargs, arg", [
    ({"annotation": None}, "annotation"),
    ({"task": "segmentation"}, "task"),
    ({"label_mode": "exon"}, "label_mode"),
    ({"tokenizer": "kmer", "k": 5}, "window"),
    ({"tokenizer": "kmer", "k": 12}, "k"),
    ({"holdout_every": 5}, "holdout_every"),
    ({"val_fraction": 1.2}, "val_fraction"),
    ({"max_n_fraction": -0.1}, "max_n_fraction"),
    ({"stride": 0}, "stride"),
    ({"batch_size": 0}, "batch_size"),
    ({"mlm_probability": 0.0}, "mlm_probability"),
])
def test_bad_argument_combinations_name_the_argument(synthetic, kwargs, arg):
    with pytest.raises(ConfigError, match=f"^{arg}:"):
        make(synthetic, **kwargs)


def test_bad_inputs(synthetic, tmp_path):
    with pytest.raises(InputError, match="window 800 is longer than every contig"):
        make(synthetic, window=800)
    gff = tmp_path / "other.gff3"
    gff.write_text(Path(synthetic["gff"]).read_text() + "chrX\ttest\tCDS\t1\t30\t.\t+\t0\tID=x\n")
    with pytest.warns(UserWarning, match="chrX"):
        GenomeDataModule(synthetic["fasta"], str(gff), window=64, cache_dir=synthetic["cache"],
                         test_contigs=["chr3"]).setup()
    with pytest.raises(InputError, match="no intervals"):
        make(synthetic, feature_types=["tRNA"])


def test_lightning_fit_runs_and_skips_an_empty_validation_split(synthetic, tmp_path):
    import pytorch_lightning as pl

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(9, 2)
            self.epochs_seen = []

        def training_step(self, batch, _):
            self.epochs_seen.append(batch["input_ids"][0, :8].tolist())
            return torch.nn.functional.cross_entropy(self.emb(batch["input_ids"]).transpose(1, 2), batch["labels"])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    dm = make(synthetic, val_contigs=None, val_fraction=0.0)
    assert dm.val_dataloader() == []
    model = Tiny()
    trainer = pl.Trainer(max_epochs=2, limit_train_batches=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=dm)
    assert len(model.epochs_seen) == 4 and model.epochs_seen[:2] != model.epochs_seen[2:]


def test_ecoli_baseline_split_and_frame_labels_mark_stop_codons():
    dm = GenomeDataModule(str(ECOLI / "genome.fa.gz"), str(ECOLI / "annotation.gff3.gz"), label_mode="frame",
                          holdout_every=5, window=4096)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dm.setup("fit")
    test = dm.splits["test"]
    assert len(test) == 46 and sum(dm.contig_lengths[c] for c in test) == 1_175_912
    labels = {c: dm.nucleotide_label_source.labels[o:o + n]
              for c, o, n in zip(dm.sequences.contig_names, dm.sequences.offsets, dm.sequences.lengths)}
    seqs = {c: TOK.decode(dm.sequences.ids[o:o + n])
            for c, o, n in zip(dm.sequences.contig_names, dm.sequences.offsets, dm.sequences.lengths)}
    cds = read_annotation(ECOLI / "annotation.gff3.gz", ["CDS"])
    plus = [iv for iv in cds if iv.strand == "+" and iv.phase == 0][:200]
    stops = [seqs[iv.contig][iv.end - 3:iv.end] for iv in plus]
    assert sum(s in ("TAA", "TAG", "TGA") for s in stops) >= 195  # complete genes end in a stop codon
    ends = np.array([labels[iv.contig][iv.end - 3:iv.end] for iv in plus])  # [200, 3]
    known = ends != vocab.IGNORE_INDEX  # bases shared with an overlapping gene in another frame are ignored
    assert (ends == [1, 2, 3])[known].all() and known.all(axis=1).sum() >= 160


def test_compact_batches_from_workers_are_widened_to_int64(synthetic):
    dm = make(synthetic, num_workers=1, task="mlm", annotation=None, tokenizer="kmer", k=5, window=60, stride=30)
    dataset = dm.train_dataloader().dataset
    assert dataset.id_dtype == np.int16 and dataset.label_dtype == np.int16  # 5 + 4**5 ids, IGNORE_INDEX
    plan = next(iter(dm.train_sampler()))
    raw = dataset[plan]
    assert raw["input_ids"].dtype == torch.int16 and raw["labels"].dtype == torch.int16
    wide = widen_batch(dict(raw))
    assert wide["input_ids"].dtype == torch.int64 and torch.equal(wide["input_ids"], raw["input_ids"].long())
    dm0 = make(synthetic, num_workers=0, task="mlm", annotation=None, tokenizer="kmer", k=5, window=60, stride=30)
    assert_same_batches(batches(dm.train_dataloader()), batches(dm0.train_dataloader()))
    assert make(synthetic, num_workers=1).train_dataloader().dataset.label_dtype == np.int8


def test_eval_context_scores_each_test_base_once_with_context(synthetic):
    dm = make(synthetic, stride=None, eval_context=16, max_n_fraction=1.0)
    kept = {}
    for batch in dm.test_dataloader():
        for row, contig, start in zip(batch["labels"], batch["contig"], batch["start"].tolist()):
            for offset in torch.nonzero(row != vocab.IGNORE_INDEX).flatten().tolist():
                position = (contig, start + offset)
                assert position not in kept  # each base scored once
                kept[position] = int(row[offset])
    truth = contig_labels(dm.interval_index, {"chr3": LENGTHS["chr3"]}, "binary")["chr3"]
    expected = {("chr3", i): int(v) for i, v in enumerate(truth) if v != vocab.IGNORE_INDEX}
    assert kept == expected
    with pytest.raises(ConfigError, match="eval_context"):
        make(synthetic, eval_context=32)  # window 64 leaves no central part
