"""Data pipeline throughput: tokeniser nucleotides/s (one core) and dataloader nucleotides/s.

    python -m genoattn.bench.data --fasta data/ecoli_prokka/genome.fa.gz \\
        --gff data/ecoli_prokka/annotation.gff3.gz --out benchmarks/data_pipeline/cpu-ecoli.json

Targets (issue 2): tokenising >= 200 M nt/s on one core; a dataloader that yields 4,096-nt windows at
>= 20 M nt/s with 2 workers. Each figure is the median of several timed repeats after a warm-up. Beside
``--out`` (``NAME.json``) goes ``NAME.provenance.json``: command, commit, device, versions, date and the host's
CPU count and load (``genoattn.bench.provenance``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import torch

from genoattn.bench.provenance import machine, provenance, write_provenance
from genoattn.data.datamodule import GenomeDataModule
from genoattn.data.genome import Genome
from genoattn.data.tokenizers import KmerTokenizer, NucleotideTokenizer, encode_nucleotides
from genoattn.tasks import Task

TOKENIZER_TARGET = 200e6
DATALOADER_TARGET = 20e6


def _median_rate(fn: Callable[[], int], repeats: int) -> float:
    """Median of ``units / seconds`` over ``repeats`` calls of ``fn`` (which returns its units), after one warm-up."""
    fn()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        units = fn()
        rates.append(units / (time.perf_counter() - t0))
    return statistics.median(rates)


def bench_tokenizers(genome: Genome, copies: int, repeats: int) -> dict[str, float]:
    """nt/s of text -> ids (nucleotide LUT), nucleotide ids -> 6-mer ids, and reverse complement."""
    text = "".join(genome.fetch(c, 0, n) for c, n in genome.contigs.items()) * copies
    text = text[: len(text) - len(text) % 6]
    nucleotide, kmer = NucleotideTokenizer(), KmerTokenizer(6)
    ids = encode_nucleotides(text)
    return {
        "sequence_nt": len(text),
        "nucleotide_encode_nt_per_s": _median_rate(lambda: len(nucleotide.encode(text)), repeats),
        "kmer6_encode_from_ids_nt_per_s": _median_rate(lambda: kmer.encode_nucleotides(ids).size * 6, repeats),
        "reverse_complement_nt_per_s": _median_rate(lambda: nucleotide.reverse_complement(ids).size, repeats),
    }


class DataloaderRate(TypedDict):
    """What bench_dataloader measured, and how."""

    workers: int
    window: int
    batch_size: int
    batches_per_repeat: int
    in_memory: bool
    task: Task
    first_batch_s: float
    nt_per_s: float


def bench_dataloader(fasta: str, gff: str | None, *, window: int, batch_size: int, workers: int, batches: int,
                     repeats: int, in_memory: bool, task: Task) -> DataloaderRate:
    """nt/s of a training dataloader (random jittered windows, RC + shift augmentation, labels)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dm = GenomeDataModule(fasta, gff, task=task, window=window, batch_size=batch_size, num_workers=workers,
                              train_windows_per_epoch=batch_size * batches, rc_augment=True, shift_augment=64,
                              holdout_every=5, in_memory=in_memory)
        dm.setup("fit")
    loader = dm.train_dataloader()

    def one_epoch() -> int:
        nt = 0
        for batch in loader:
            nt += batch["input_ids"].numel() * dm.tokenizer.k
        return nt

    t0 = time.perf_counter()
    first = next(iter(loader))  # starts the (persistent) workers
    startup = time.perf_counter() - t0
    assert first["input_ids"].shape == (batch_size, window)
    rate = _median_rate(one_epoch, repeats)
    return {"workers": workers, "window": window, "batch_size": batch_size, "batches_per_repeat": batches,
            "in_memory": in_memory, "task": task, "first_batch_s": startup, "nt_per_s": rate}


class _ZerosDataset(torch.utils.data.Dataset):
    """Returns ready-made int64 batches: measures only the cost of moving batches out of worker processes."""

    def __init__(self, batch_size: int, window: int):
        self.shape = (batch_size, window)

    def __getitem__(self, _: int) -> dict[str, torch.Tensor]:
        return {"input_ids": torch.zeros(self.shape, dtype=torch.int64),
                "labels": torch.zeros(self.shape, dtype=torch.int64)}


def bench_transfer_ceiling(*, window: int, batch_size: int, workers: int, batches: int, repeats: int) -> float:
    """nt/s of a dataloader whose workers return ready-made int64 batches (no work): what moving int64
    batches between processes allows (the data module's workers send 1-2 byte ids instead)."""
    loader = torch.utils.data.DataLoader(_ZerosDataset(batch_size, window), batch_size=None, sampler=range(batches),
                                         num_workers=workers, persistent_workers=True, prefetch_factor=4)
    return _median_rate(lambda: sum(b["input_ids"].numel() for b in loader), repeats)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fasta", default="data/ecoli_prokka/genome.fa.gz")
    parser.add_argument("--gff", default="data/ecoli_prokka/annotation.gff3.gz")
    parser.add_argument("--out", default="benchmarks/data_pipeline/cpu-ecoli.json")
    parser.add_argument("--window", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=60, help="batches per timed repeat of the dataloader")
    parser.add_argument("--copies", type=int, default=4, help="genome copies in the tokeniser input")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    genome = Genome(args.fasta)
    tok = bench_tokenizers(genome, args.copies, args.repeats)
    loaders = [
        bench_dataloader(args.fasta, args.gff, window=args.window, batch_size=args.batch_size, workers=args.workers,
                         batches=args.batches, repeats=args.repeats, in_memory=True, task="token_classification"),
        bench_dataloader(args.fasta, args.gff, window=args.window, batch_size=args.batch_size, workers=0,
                         batches=args.batches, repeats=args.repeats, in_memory=True, task="token_classification"),
        bench_dataloader(args.fasta, args.gff, window=args.window, batch_size=args.batch_size, workers=args.workers,
                         batches=args.batches, repeats=args.repeats, in_memory=False, task="token_classification"),
        bench_dataloader(args.fasta, None, window=args.window, batch_size=args.batch_size, workers=args.workers,
                         batches=args.batches, repeats=args.repeats, in_memory=True, task="mlm"),
    ]
    ceiling = bench_transfer_ceiling(window=args.window, batch_size=args.batch_size, workers=args.workers,
                                     batches=args.batches, repeats=args.repeats)
    main_loader = loaders[0]
    command = "python -m genoattn.bench.data " + " ".join(sys.argv[1:] if argv is None else argv)
    result = {
        "command": command,
        "fasta": args.fasta,
        "tokenizer": tok,
        "dataloader": loaders,
        "int64_transfer_ceiling_nt_per_s": ceiling,
        "note": "With workers, each batch is copied out of a worker process. The data module's workers send "
                "token ids and labels as 1-2 byte integers and the loader widens them to int64; "
                "int64_transfer_ceiling_nt_per_s is a loader whose workers return ready-made int64 batches of "
                "the same shape (the limit without that). workers=0 shows the cost of building batches alone.",
        "targets": {
            "tokenizer_nt_per_s": TOKENIZER_TARGET,
            "tokenizer_met": tok["nucleotide_encode_nt_per_s"] >= TOKENIZER_TARGET,
            "dataloader_nt_per_s": DATALOADER_TARGET,
            "dataloader_met": main_loader["nt_per_s"] >= DATALOADER_TARGET,
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    write_provenance(out, provenance(torch.device("cpu"), command) | {"machine": machine()})
    mega = {k: v / 1e6 for k, v in tok.items() if k.endswith("per_s")}
    print(f"tokeniser (1 core): {mega['nucleotide_encode_nt_per_s']:.1f} M nt/s (target {TOKENIZER_TARGET / 1e6:.0f}); "
          f"6-mer from ids {mega['kmer6_encode_from_ids_nt_per_s']:.1f} M nt/s; "
          f"reverse complement {mega['reverse_complement_nt_per_s']:.1f} M nt/s")
    for r in loaders:
        print(f"dataloader {r['task']:<20} workers={r['workers']} in_memory={str(r['in_memory']):<5} "
              f"window={r['window']} batch={r['batch_size']}: {r['nt_per_s'] / 1e6:8.1f} M nt/s")
    print(f"int64 transfer ceiling, {args.workers} workers doing no work: {ceiling / 1e6:.1f} M nt/s")
    met = result["targets"]
    print(f"targets met: tokeniser {met['tokenizer_met']}, dataloader {met['dataloader_met']}  -> {out}")
    return result


if __name__ == "__main__":
    main()
