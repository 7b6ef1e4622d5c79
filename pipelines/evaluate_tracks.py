"""Score genoattn.predict's per-nucleotide bedGraph against an annotation on chosen contigs.

    python -m pipelines.evaluate_tracks --bedgraph PRED/test.bedGraph \
        --annotation data/ecoli_prokka/annotation.gff3.gz --fasta data/ecoli_prokka/genome.fa.gz \
        --holdout-every 5 [--out metrics.json]

Contigs are those of the bedGraph; with --holdout-every N only the held-out contigs of that split rule (every
N-th contig of the name-sorted FASTA) are scored. Bases without a bedGraph value (N runs) and bases whose label
is ignored are left out. Prints and optionally writes AUROC and AUPRC of coding vs non-coding.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genoattn.data.annotations import check_intervals, read_annotation
from genoattn.data.genome import Genome
from genoattn.data.labels import IntervalIndex
from genoattn.inference.evaluate import read_bedgraph, track_metrics


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bedgraph", type=Path, required=True)
    parser.add_argument("--annotation", type=Path, required=True)
    parser.add_argument("--fasta", type=Path, required=True)
    parser.add_argument("--feature-types", nargs="*", default=["CDS"])
    parser.add_argument("--holdout-every", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    with Genome(args.fasta) as genome:
        lengths = genome.contigs
    names = sorted(lengths)
    if args.holdout_every:
        names = [c for i, c in enumerate(names) if i % args.holdout_every == 0]
    lengths = {c: lengths[c] for c in names}
    intervals = [iv for iv in read_annotation(args.annotation, args.feature_types) if iv.contig in lengths]
    index = IntervalIndex(check_intervals(intervals, lengths, str(args.annotation)))
    metrics, _ = track_metrics(read_bedgraph(args.bedgraph, lengths), index)
    print(json.dumps(metrics, indent=2))
    if args.out:
        args.out.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


if __name__ == "__main__":
    main()
