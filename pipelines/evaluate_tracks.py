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

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from genoattn.data.annotations import check_intervals, read_annotation
from genoattn.data.genome import Genome
from genoattn.data.labels import IntervalIndex, nucleotide_labels
from genoattn.data.vocab import IGNORE_INDEX


def read_bedgraph(path: Path, lengths: dict[str, int]) -> dict[str, np.ndarray]:
    """Per-contig float32 arrays (NaN where the bedGraph gives no value); other contigs are skipped."""
    tracks = {c: np.full(n, np.nan, dtype=np.float32) for c, n in lengths.items()}
    with open(path) as fh:
        for line in fh:
            if line.startswith(("track", "#")) or not line.strip():
                continue
            contig, start, end, value = line.split()[:4]
            if contig in tracks:
                tracks[contig][int(start) : int(end)] = float(value)
    return tracks


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
    tracks = read_bedgraph(args.bedgraph, lengths)
    scores, labels = [], []
    for contig, n in lengths.items():
        label = nucleotide_labels(index, contig, 0, n, "binary")
        keep = (label != IGNORE_INDEX) & ~np.isnan(tracks[contig])
        scores.append(tracks[contig][keep])
        labels.append(label[keep])
    y, s = np.concatenate(labels), np.concatenate(scores)
    metrics = {
        "auroc": float(roc_auc_score(y, s)),
        "auprc": float(average_precision_score(y, s)),
        "bases": int(len(y)),
        "positive_fraction": float(y.mean()),
        "contigs": len(lengths),
    }
    print(json.dumps(metrics, indent=2))
    if args.out:
        args.out.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


if __name__ == "__main__":
    main()
